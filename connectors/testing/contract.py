"""The connector contract suite: subclass `ConnectorContract`, provide fixtures, get every test.

    from connectors.testing import ConnectorContract, KnownSubject

    class TestMyConnector(ConnectorContract):
        @pytest.fixture
        async def connector(self, my_seeded_system): ...      # against a freshly seeded system
        @pytest.fixture
        def known_subject(self, ...) -> KnownSubject: ...      # a subject present, with counts
        @pytest.fixture
        def unknown_subject(self) -> SubjectRef: ...           # nobody in the system
        @pytest.fixture
        async def unreachable_connector(self): ...             # pointed at a dead address

Optional fixtures (defaults in this class): `ambiguous_subject` (None: the system cannot express
one), `bad_credentials_connector` (None: not testable), `erase_today` (today), `rectify_changes`
(a new e-mail address and name).

The tests erase and rectify `known_subject`. Either give each test a freshly seeded system, or
(cheaper) hand out a different seeded subject every time the `known_subject` fixture is
requested: no test then sees another test's changes, in any order.

Tests are coroutines marked `pytest.mark.asyncio`; run them with pytest-asyncio and one event
loop for the connector's fixtures and the tests (e.g. `asyncio_default_fixture_loop_scope` and
`asyncio_default_test_loop_scope` both "session").
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from importlib.metadata import entry_points
from typing import ClassVar

import pytest

from connectors.base import (
    ENTRY_POINT_GROUP,
    AmbiguousSubject,
    AuthenticationError,
    Connector,
    Operation,
    SystemUnavailable,
    describe,
)
from connectors.testing._sink import RecordingSink
from connectors.testing._support import (
    KnownSubject,
    discover,
    exception_text,
    leaked_values,
    personal_values,
)
from policy.loader import load_policy
from policy.model import Policy
from policy.planner import plan_request
from policy.verification import leftovers
from schemas.events import FieldChange, RequestKind
from schemas.identifiers import IdentifierType
from schemas.plan import Plan, PlanAction, PlannedAction, SystemPlan
from schemas.results import EraseResult
from schemas.subject import Identifier, SubjectRef

__all__ = ["ConnectorContract"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The company's own reference numbers may appear in evidence; nothing else about the subject may.
_EVIDENCE_MAY_NAME = (IdentifierType.CUSTOMER_NUMBER, IdentifierType.ACCOUNT_NAME)


def _positive(counts: dict[str, int]) -> dict[str, int]:
    return {category: n for category, n in counts.items() if n}


def _retained_key(result: EraseResult) -> list[tuple[str, int, str, str, str]]:
    return sorted(
        (i.category, i.count, i.reason.value, str(i.until), i.legal_basis) for i in result.retained
    )


def _assert_clean(text: str, subject: SubjectRef, what: str, *, allow_references: bool) -> None:
    values = personal_values(subject, except_types=_EVIDENCE_MAY_NAME if allow_references else ())
    leaked = leaked_values(text, values)
    # Report how many leaked, never which: the assertion message ends up in CI logs.
    assert not leaked, f"{what} contains {len(leaked)} of the subject's personal values"


def _erase_everything(connector: Connector, today: date) -> SystemPlan:
    """A plan deleting every category by subject (for the refusal and outage tests)."""
    return SystemPlan(
        system=connector.name,
        created_on=today,
        actions=tuple(
            PlannedAction(system=connector.name, category=c.name, action=PlanAction.DELETE)
            for c in connector.categories
        ),
    )


async def planned_erasure(
    connector: Connector, subject: SubjectRef, today: date, policy: Policy | None = None
) -> SystemPlan:
    """The connector's slice of an erasure plan, as the workflow makes it: locate (facts),
    then the policy's planner (the shipped policy unless another is given)."""
    located = await connector.locate(subject)
    plan: Plan = plan_request(
        policy or load_policy(None),
        RequestKind.ERASURE,
        {connector.name: located},
        today,
        {connector.name: connector.operations},
    )
    system_plan: SystemPlan = plan.for_system(connector.name)
    return system_plan


async def erase_planned(
    connector: Connector, subject: SubjectRef, today: date, policy: Policy | None = None
) -> EraseResult:
    """Plan the erasure as the workflow would, then let the connector carry it out."""
    return await connector.erase(subject, await planned_erasure(connector, subject, today, policy))


class ConnectorContract:
    """Every connector passes these tests. See the module docstring for the fixtures."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.asyncio]

    # The connector must be registered under its name in the `dsr.connectors` entry points.
    # Set False for a connector that is tested but deliberately not installed.
    registered: ClassVar[bool] = True

    # --- fixtures a subclass provides -----------------------------------------------------

    @pytest.fixture
    def connector(self) -> Connector:
        pytest.fail("ConnectorContract: override the `connector` fixture")

    @pytest.fixture
    def known_subject(self) -> KnownSubject:
        pytest.fail("ConnectorContract: override the `known_subject` fixture")

    @pytest.fixture
    def unknown_subject(self) -> SubjectRef:
        pytest.fail("ConnectorContract: override the `unknown_subject` fixture")

    @pytest.fixture
    def unreachable_connector(self) -> Connector:
        pytest.fail("ConnectorContract: override the `unreachable_connector` fixture")

    @pytest.fixture
    def ambiguous_subject(self) -> SubjectRef | None:
        return None

    @pytest.fixture
    def bad_credentials_connector(self) -> Connector | None:
        return None

    @pytest.fixture
    def erase_today(self) -> date:
        return date.today()

    @pytest.fixture
    def rectify_changes(self) -> list[FieldChange]:
        token = uuid.uuid4().hex[:12]
        return [
            FieldChange(field="email", value=f"rectified.{token}@example.se"),
            FieldChange(field="name", value="Rättad Testperson"),
        ]

    # --- declarations ---------------------------------------------------------------------

    async def test_declarations_are_consistent(self, connector: Connector) -> None:
        cls = type(connector)
        assert _NAME.match(cls.name), "name must be lower-case letters, digits and underscores"
        assert cls.search_identifiers, "a connector must search by at least one identifier"
        assert all(isinstance(i, IdentifierType) for i in cls.search_identifiers)
        assert cls.categories, "a connector must declare the data categories it holds"
        names = [c.name for c in cls.categories]
        assert len(names) == len(set(names)), "category names must be unique"
        for category in cls.categories:
            assert _NAME.match(category.name), f"bad category name {category.name!r}"
            assert category.description.strip(), f"{category.name!r} needs a description"
            assert category.purpose.strip(), f"{category.name!r} needs a purpose"
        assert Operation.LOCATE in cls.operations, "every connector must support locate"
        for operation in cls.operations:
            implementation = getattr(cls, operation.value, None)
            assert implementation is not None, f"{operation.value} is declared but missing"
            base = getattr(Connector, operation.value, None)
            assert implementation is not base, f"{operation.value} is declared but not implemented"
        for recipient in cls.recipients:
            assert recipient.name.strip(), "a recipient needs a name"
            assert recipient.description.strip(), "a recipient needs a description"
        info = describe(cls)
        assert info.name == cls.name
        if self.registered:
            found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == cls.name]
            assert found, f"no {ENTRY_POINT_GROUP!r} entry point named {cls.name!r}"
            assert found[0].load() is cls, f"entry point {cls.name!r} loads another class"

    # --- locate ---------------------------------------------------------------------------

    async def test_locate_finds_known_subject(
        self, connector: Connector, known_subject: KnownSubject
    ) -> None:
        result = await connector.locate(known_subject.subject)
        declared = {c.name for c in connector.categories}
        assert result.system == connector.name
        assert set(result.counts) <= declared, "locate reports undeclared categories"
        assert not result.ambiguous, "the known subject must not be ambiguous"
        assert result.found
        for category, expected in known_subject.expected_counts.items():
            assert result.counts.get(category, 0) == expected, f"count of {category!r}"
        assert all(isinstance(i, Identifier) for i in result.learned)

    async def test_locate_is_repeatable(
        self, connector: Connector, known_subject: KnownSubject
    ) -> None:
        first = await connector.locate(known_subject.subject)
        second = await connector.locate(known_subject.subject)
        assert first == second

    async def test_locate_unknown_subject_finds_nothing(
        self, connector: Connector, unknown_subject: SubjectRef
    ) -> None:
        result = await connector.locate(unknown_subject)
        assert result.system == connector.name
        assert not result.found, "an unknown subject must have no records"
        assert all(n == 0 for n in result.counts.values())
        assert not result.ambiguous
        assert result.learned == []

    # --- export ---------------------------------------------------------------------------

    async def test_export_is_complete(
        self, connector: Connector, known_subject: KnownSubject
    ) -> None:
        if Operation.EXPORT not in connector.operations:
            pytest.skip("connector does not export")
        located = await connector.locate(known_subject.subject)
        sink = RecordingSink()  # raises on a record that is not JSON-serialisable
        result = await connector.export(known_subject.subject, sink)
        declared = {c.name for c in connector.categories}
        assert result.system == connector.name
        assert set(sink.counts) <= declared, "export wrote undeclared categories"
        assert _positive(result.counts) == sink.counts, "export result counts != records written"
        assert sink.counts == _positive(located.counts), "export must write every located record"

    async def test_export_of_unknown_subject_writes_nothing(
        self, connector: Connector, unknown_subject: SubjectRef
    ) -> None:
        if Operation.EXPORT not in connector.operations:
            pytest.skip("connector does not export")
        sink = RecordingSink()
        result = await connector.export(unknown_subject, sink)
        assert sink.total == 0
        assert not _positive(result.counts)

    # --- erase ----------------------------------------------------------------------------

    async def test_policy_covers_every_category(self, connector: Connector) -> None:
        policy = load_policy(None)
        missing = [
            c.name for c in connector.categories if not policy.covers(connector.name, c.name)
        ]
        assert not missing, f"policy/default.yaml does not cover {connector.name}: {missing}"

    async def test_erase_leaves_only_retained_data(
        self, connector: Connector, known_subject: KnownSubject, erase_today: date
    ) -> None:
        if Operation.ERASE not in connector.operations:
            pytest.skip("connector does not erase")
        subject = await discover(connector, known_subject.subject)
        plan = await planned_erasure(connector, subject, erase_today)
        result = await connector.erase(subject, plan)
        declared = {c.name for c in connector.categories}
        assert result.system == connector.name
        assert set(result.deleted) | set(result.anonymised) <= declared
        done = sum(result.deleted.values()) + sum(result.anonymised.values())
        assert done + sum(i.count for i in result.retained) > 0, "erase did nothing"
        _assert_clean(result.evidence, subject, "erase evidence", allow_references=True)
        after = await connector.locate(subject)
        assert not after.ambiguous
        problems = leftovers(load_policy(None), plan, after)
        assert not problems, "after erase: " + "; ".join(problems)

    async def test_erase_is_idempotent(
        self, connector: Connector, known_subject: KnownSubject, erase_today: date
    ) -> None:
        if Operation.ERASE not in connector.operations:
            pytest.skip("connector does not erase")
        subject = await discover(connector, known_subject.subject)
        plan = await planned_erasure(connector, subject, erase_today)
        await connector.erase(subject, plan)
        second = await connector.erase(subject, plan)
        assert sum(second.deleted.values()) == 0, "a second erase must delete nothing"
        assert sum(second.anonymised.values()) == 0, "a second erase must anonymise nothing"

    async def test_retained_items_are_explained(
        self, connector: Connector, known_subject: KnownSubject, erase_today: date
    ) -> None:
        if Operation.ERASE not in connector.operations:
            pytest.skip("connector does not erase")
        subject = await discover(connector, known_subject.subject)
        plan = await planned_erasure(connector, subject, erase_today)
        await connector.erase(subject, plan)
        policy = load_policy(None)
        for action in plan.retained:
            rule = policy.category(connector.name, action.category).retention
            assert action.reason is rule.reason
            assert action.legal_basis.strip(), "a retained item needs its legal basis"
            assert action.count > 0, "retained items list only what is kept"
            if rule.years is not None or rule.months is not None:
                assert action.until is not None, f"{action.category!r} is kept for a period"
                assert action.until >= erase_today, "retention that has ended must be erased"

    # --- rectify and restrict -------------------------------------------------------------

    async def test_rectify_round_trip(
        self,
        connector: Connector,
        known_subject: KnownSubject,
        rectify_changes: list[FieldChange],
    ) -> None:
        if Operation.RECTIFY not in connector.operations:
            pytest.skip("connector does not rectify")
        new_email = next((c.value for c in rectify_changes if c.field == "email"), None)
        if new_email is None or IdentifierType.EMAIL not in connector.search_identifiers:
            pytest.skip("round trip needs an e-mail change and a connector that searches by it")
        new_name = next((c.value for c in rectify_changes if c.field == "name"), None)
        subject = await discover(connector, known_subject.subject)
        result = await connector.rectify(subject, rectify_changes)
        assert result.system == connector.name
        assert result.rejected_fields == [], "the standard changes must be accepted"
        assert sum(result.changed.values()) > 0, "rectify changed nothing"
        by_new_email = SubjectRef(
            identifiers=(Identifier(type=IdentifierType.EMAIL, value=new_email.lower()),),
            name=new_name,
        )
        located = await connector.locate(by_new_email)
        assert located.found, "the rectified e-mail address must find the subject"
        assert not located.ambiguous

    async def test_rectify_rejects_unknown_fields(
        self, connector: Connector, known_subject: KnownSubject
    ) -> None:
        if Operation.RECTIFY not in connector.operations:
            pytest.skip("connector does not rectify")
        changes = [FieldChange(field="no_such_field_in_any_system", value="x")]
        result = await connector.rectify(known_subject.subject, changes)
        assert result.rejected_fields == ["no_such_field_in_any_system"]
        assert sum(result.changed.values()) == 0

    async def test_restrict_and_lift(
        self, connector: Connector, known_subject: KnownSubject
    ) -> None:
        if Operation.RESTRICT not in connector.operations:
            pytest.skip("connector does not restrict")
        first = await connector.restrict(known_subject.subject)
        again = await connector.restrict(known_subject.subject)
        assert first.system == connector.name
        assert sum(first.restricted.values()) > 0
        assert again == first, "restrict must be idempotent"
        if Operation.LIFT_RESTRICTION in connector.operations:
            lifted = await connector.lift_restriction(known_subject.subject)
            assert sum(lifted.restricted.values()) > 0

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
        _assert_clean(
            result.ambiguity_reason, ambiguous_subject, "ambiguity_reason", allow_references=False
        )
        assert result.learned == [], "never pass on identifiers of somebody else"
        if Operation.ERASE in connector.operations:
            with pytest.raises(AmbiguousSubject) as erase_error:
                await connector.erase(ambiguous_subject, _erase_everything(connector, erase_today))
            assert not erase_error.value.retryable
            _assert_clean(
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
        _assert_clean(
            exception_text(locate_error.value),
            known_subject.subject,
            "SystemUnavailable",
            allow_references=False,
        )
        if Operation.ERASE in unreachable_connector.operations:
            with pytest.raises(SystemUnavailable):
                await unreachable_connector.erase(
                    known_subject.subject, _erase_everything(unreachable_connector, erase_today)
                )

    async def test_bad_credentials_are_a_permanent_typed_error(
        self, bad_credentials_connector: Connector | None, known_subject: KnownSubject
    ) -> None:
        if bad_credentials_connector is None:
            pytest.skip("no bad-credentials case for this system")
        with pytest.raises(AuthenticationError) as error:
            await bad_credentials_connector.locate(known_subject.subject)
        assert not error.value.retryable
        _assert_clean(
            exception_text(error.value),
            known_subject.subject,
            "AuthenticationError",
            allow_references=False,
        )
