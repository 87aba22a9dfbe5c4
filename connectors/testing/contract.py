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

import uuid
from datetime import UTC, date, datetime
from importlib.metadata import entry_points
from typing import ClassVar

import pytest

from connectors.base import (
    ENTRY_POINT_GROUP,
    Connector,
    Operation,
    describe,
    operation_first_asked,
)
from connectors.testing._failures import FailureContract
from connectors.testing._planning import (
    NAME,
    assert_clean,
    erase_planned,
    planned_erasure,
    positive,
)
from connectors.testing._sink import RecordingSink
from connectors.testing._support import (
    KnownSubject,
    discover,
)
from policy.loader import load_policy
from policy.verification import leftovers
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef

# erase_planned and planned_erasure are re-exported: connector tests import them from here.
__all__ = ["ConnectorContract", "erase_planned", "planned_erasure"]


class ConnectorContract(FailureContract):
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
        assert NAME.match(cls.name), "name must be lower-case letters, digits and underscores"
        assert cls.search_identifiers, "a connector must search by at least one identifier"
        assert all(isinstance(i, IdentifierType) for i in cls.search_identifiers)
        assert cls.categories, "a connector must declare the data categories it holds"
        names = [c.name for c in cls.categories]
        assert len(names) == len(set(names)), "category names must be unique"
        for category in cls.categories:
            assert NAME.match(category.name), f"bad category name {category.name!r}"
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
        assert positive(result.counts) == sink.counts, "export result counts != records written"
        assert sink.counts == positive(located.counts), "export must write every located record"

    async def test_export_of_unknown_subject_writes_nothing(
        self, connector: Connector, unknown_subject: SubjectRef
    ) -> None:
        if Operation.EXPORT not in connector.operations:
            pytest.skip("connector does not export")
        sink = RecordingSink()
        result = await connector.export(unknown_subject, sink)
        assert sink.total == 0
        assert not positive(result.counts)

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
        assert_clean(result.evidence, subject, "erase evidence", allow_references=True)
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

    async def test_rectify_twice_reports_what_was_done(
        self,
        connector: Connector,
        known_subject: KnownSubject,
        rectify_changes: list[FieldChange],
    ) -> None:
        """A retried activity (the worker died after the change, before reporting it): the
        second call must report the change and its Art. 19 proof again, not nothing."""
        if Operation.RECTIFY not in connector.operations:
            pytest.skip("connector does not rectify")
        subject = await discover(connector, known_subject.subject)
        with operation_first_asked(datetime.now(UTC)):  # one activity, two attempts
            first = await connector.rectify(subject, rectify_changes)
            again = await connector.rectify(subject, rectify_changes)
        assert sum(first.changed.values()) > 0, "rectify changed nothing"
        assert again.changed == first.changed
        assert {(n.recipient, n.reference) for n in again.notified} == {
            (n.recipient, n.reference) for n in first.notified
        }

    async def test_rectify_refuses_a_value_it_cannot_store(
        self, connector: Connector, known_subject: KnownSubject
    ) -> None:
        """A held field with a value the system cannot take is 'refused' (a person follows
        up), not 'not held here' (nothing to do): the subject must not be told it is done."""
        if Operation.RECTIFY not in connector.operations:
            pytest.skip("connector does not rectify")
        changes = [FieldChange(field="email", value="not an address")]
        result = await connector.rectify(known_subject.subject, changes)
        if result.rejected_fields == ["email"]:
            pytest.skip("the system holds no e-mail address")
        assert result.refused_fields == ["email"]
        assert result.rejected_fields == []
        assert sum(result.changed.values()) == 0

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
