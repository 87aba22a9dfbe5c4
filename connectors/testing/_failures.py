"""The contract's tests of what must be refused or fail well: an ambiguous subject, an outage,
bad credentials. A mixin of `ConnectorContract`, which provides the fixtures."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.base import (
    AmbiguousSubject,
    AuthenticationError,
    Connector,
    Operation,
    SystemUnavailable,
)
from connectors.testing._planning import assert_clean, erase_everything
from connectors.testing._sink import RecordingSink
from connectors.testing._support import KnownSubject, exception_text
from schemas.subject import SubjectRef

__all__ = ["FailureContract"]


class FailureContract:
    """Ambiguity, outages and bad credentials (fixtures: see `ConnectorContract`)."""

    # --- ambiguity ------------------------------------------------------------------------

    async def test_ambiguous_subject_is_reported_and_refused(
        self,
        connector: Connector,
        ambiguous_subject: SubjectRef | None,
        erase_today: date,
    ) -> None:
        if ambiguous_subject is None:
            pytest.skip("the system cannot express an ambiguous subject")
        result = await connector.locate(ambiguous_subject)
        assert result.ambiguous
        assert result.ambiguity_reason, "say why (without personal data)"
        assert_clean(
            result.ambiguity_reason, ambiguous_subject, "ambiguity_reason", allow_references=False
        )
        assert result.learned == [], "never pass on identifiers of somebody else"
        if Operation.ERASE in connector.operations:
            with pytest.raises(AmbiguousSubject) as erase_error:
                await connector.erase(ambiguous_subject, erase_everything(connector, erase_today))
            assert not erase_error.value.retryable
            assert_clean(
                exception_text(erase_error.value),
                ambiguous_subject,
                "AmbiguousSubject",
                allow_references=False,
            )
        if Operation.EXPORT in connector.operations:
            sink = RecordingSink()
            with pytest.raises(AmbiguousSubject):
                await connector.export(ambiguous_subject, sink)
            assert sink.total == 0, "nothing may be disclosed for an ambiguous subject"

    # --- failures -------------------------------------------------------------------------

    async def test_outage_is_a_retryable_typed_error(
        self,
        unreachable_connector: Connector,
        known_subject: KnownSubject,
        erase_today: date,
    ) -> None:
        with pytest.raises(SystemUnavailable) as locate_error:
            await unreachable_connector.locate(known_subject.subject)
        assert locate_error.value.retryable
        assert_clean(
            exception_text(locate_error.value),
            known_subject.subject,
            "SystemUnavailable",
            allow_references=False,
        )
        if Operation.ERASE in unreachable_connector.operations:
            with pytest.raises(SystemUnavailable):
                await unreachable_connector.erase(
                    known_subject.subject, erase_everything(unreachable_connector, erase_today)
                )

    async def test_bad_credentials_are_a_permanent_typed_error(
        self, bad_credentials_connector: Connector | None, known_subject: KnownSubject
    ) -> None:
        if bad_credentials_connector is None:
            pytest.skip("no bad-credentials case for this system")
        with pytest.raises(AuthenticationError) as error:
            await bad_credentials_connector.locate(known_subject.subject)
        assert not error.value.retryable
        assert_clean(
            exception_text(error.value),
            known_subject.subject,
            "AuthenticationError",
            allow_references=False,
        )
