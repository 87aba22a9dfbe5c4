"""The support connector: the contract suite against the real support sandbox server, plus the
support desk's own rules (legal hold, redaction, recordings, rate limits, pagination).

One SQLite database is seeded for the module (200 customers and a user with 250 tickets, more
than two pages) and served by the real sandbox app under uvicorn on a free port, exactly as
`dsr up` runs it. Tests draw distinct seeded subjects, so no test sees another one's erasure.
A second server over the same database has a tiny rate limit for the 429 tests.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import (
    AmbiguousSubject,
    AuthenticationError,
    ConfigurationError,
    RateLimited,
    RetryPolicy,
    SystemUnavailable,
)
from connectors.support import LEGAL_HOLD_BASIS, Redactor, SupportConnector
from connectors.support._desk import Desk
from connectors.testing import (
    ConnectorContract,
    KnownSubject,
    RecordingSink,
    dead_tcp_address,
    discover,
    erase_planned,
    exception_text,
    leaked_values,
    personal_values,
    planned_erasure,
)
from devstack.localstack import ManagedProcess, free_port, sandbox_server
from policy.loader import load_policy
from policy.verification import leftovers
from sandbox.people import Customer, customer_at, generate_customers
from sandbox.support import (
    SeededSupport,
    SupportSeedExample,
    phone_variants,
    pnr_variants,
    seed_support,
    seeded_support,
)
from schemas.events import FieldChange, Subject
from schemas.identifiers import IdentifierType
from schemas.status import RetentionReason
from schemas.subject import Identifier, SubjectRef

SEED = 7
CUSTOMERS = 200
HEAVY_TICKETS = 250  # more than two pages of the API's largest page (100)
TOKEN = "support-test-token"
TODAY = date(2026, 11, 25)


def _plain(customer: Customer) -> bool:
    return customer.kind == "person" and customer.status == "active" and customer.special is None


_PLAIN = [
    seeded_support(c.index, SEED)
    for c in generate_customers(CUSTOMERS, SEED)
    if _plain(c) and seeded_support(c.index, SEED).activity.user is not None
]


def _on_hold(seeded: SeededSupport) -> bool:
    return bool(seeded.activity.legal_hold_tickets)


# Half the subjects for the contract (those with tickets on legal hold first, so that the
# erasure tests see retention), the other half for the support rules below.
_CONTRACT = sorted(_PLAIN[::2], key=lambda s: not _on_hold(s))
_RULES = list(_PLAIN[1::2])


def _take(predicate: Callable[[SeededSupport], bool] = lambda _: True) -> SeededSupport:
    """A rules subject no other test has had."""
    for n, seeded in enumerate(_RULES):
        if predicate(seeded):
            return _RULES.pop(n)
    pytest.fail("no seeded subject left for this test: seed more customers")


def _ref(*pairs: tuple[IdentifierType, str], name: str | None = None) -> SubjectRef:
    return SubjectRef(
        identifiers=tuple(Identifier(type=kind, value=value) for kind, value in pairs), name=name
    )


def _by_email(customer: Customer) -> SubjectRef:
    return _ref((IdentifierType.EMAIL, customer.email), name=customer.name)


def _everything(customer: Customer) -> SubjectRef:
    """The subject as the workflow knows it after discovery in every system."""
    return SubjectRef.from_subject(
        Subject(
            email=customer.email,
            name=customer.name,
            customer_number=customer.customer_number,
            personal_identity_number=customer.personal_identity_number,
            phone=customer.phone,
            domains=list(customer.domains),
        )
    )


# --- the real sandbox ---------------------------------------------------------------------


class _Desk:
    def __init__(self, root: Path, url: str, heavy: SupportSeedExample) -> None:
        self.root = root
        self.url = url
        self.heavy = heavy

    @property
    def db(self) -> Path:
        return self.root / "support.db"

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with sqlite3.connect(self.db) as conn:
            return list(conn.execute(sql, params))


@pytest.fixture(scope="module")
async def desk(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[_Desk]:
    root = tmp_path_factory.mktemp("support")
    database_url = f"sqlite+aiosqlite:///{root / 'support.db'}"
    summary = await seed_support(database_url, CUSTOMERS, SEED, heavy_tickets=HEAVY_TICKETS)
    assert summary.examples.heavy_user is not None
    port = free_port()
    server = sandbox_server(
        "support", port, database_url, root / "logs", {"api_token": TOKEN, "rate_limit": "0"}
    )
    try:
        yield _Desk(root, f"http://127.0.0.1:{port}", summary.examples.heavy_user)
    finally:
        server.stop()


def _connector(
    url: str,
    *,
    attempts: int = 3,
    wait_initial: float = 0.05,
    retry_after_cap: float = 60.0,
    **options: Any,
) -> SupportConnector:
    retry = RetryPolicy(
        attempts=attempts,
        wait_initial=wait_initial,
        wait_jitter=0.01,
        retry_after_cap=retry_after_cap,
    )
    settings: dict[str, Any] = {"retry": retry, "timeout": 10.0}
    return SupportConnector(url, TOKEN, **(settings | options))


@pytest.fixture
async def support(desk: _Desk) -> AsyncIterator[SupportConnector]:
    connector = _connector(desk.url)
    yield connector
    await connector.aclose()


# --- the contract -------------------------------------------------------------------------


class TestSupportConnector(ConnectorContract):
    @pytest.fixture(scope="class")
    @classmethod
    def subject_pool(cls) -> Iterator[SeededSupport]:
        return iter(_CONTRACT)

    @pytest.fixture
    async def connector(self, desk: _Desk) -> AsyncIterator[SupportConnector]:
        connector = _connector(desk.url)
        yield connector
        await connector.aclose()

    @pytest.fixture
    def known_subject(self, subject_pool: Iterator[SeededSupport]) -> KnownSubject:
        seeded = next(subject_pool)
        return KnownSubject(_by_email(seeded.customer), seeded.counts)

    @pytest.fixture
    def unknown_subject(self) -> SubjectRef:
        return _ref(
            (IdentifierType.EMAIL, f"nobody.{uuid.uuid4().hex[:10]}@example.invalid"),
            (IdentifierType.CUSTOMER_NUMBER, "K999999999"),
            (IdentifierType.PHONE, "+46700000000"),
            name="Ingen Alls",
        )

    @pytest.fixture
    def ambiguous_subject(self) -> SubjectRef:
        # The family address belongs to the first of the two people at the desk; the second
        # asking by it (with their own name) must not get the first one's tickets erased.
        first, second = _shared_email_pair()
        return _ref((IdentifierType.EMAIL, first.email), name=second.name)

    @pytest.fixture
    async def unreachable_connector(self) -> AsyncIterator[SupportConnector]:
        host, port = dead_tcp_address()
        connector = _connector(f"http://{host}:{port}", attempts=2, connect_timeout=1)
        yield connector
        await connector.aclose()

    @pytest.fixture
    async def bad_credentials_connector(self, desk: _Desk) -> AsyncIterator[SupportConnector]:
        connector = SupportConnector(desk.url, "not-the-token", retry=RetryPolicy(attempts=3))
        yield connector
        await connector.aclose()

    @pytest.fixture
    def erase_today(self) -> date:
        return TODAY


def _shared_email_pair() -> tuple[Customer, Customer]:
    pair = [c for c in generate_customers(CUSTOMERS, SEED) if c.special == "shared_email"][:2]
    assert pair[0].email == pair[1].email and pair[0].first_name != pair[1].first_name
    return pair[0], pair[1]


# --- legal hold, redaction, recordings ----------------------------------------------------


def _written_forms(customer: Customer) -> list[str]:
    """Every way the seeded conversations write the customer's personal data."""
    forms = [customer.email, customer.name, *phone_variants(customer.phone), *customer.domains]
    if customer.personal_identity_number:
        forms += pnr_variants(customer.personal_identity_number)
    return forms


def _name_words(customer: Customer) -> re.Pattern[str]:
    words = {w for w in re.split(r"[\s\-]+", customer.name) if len(w) >= 2}
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)", re.I)


async def test_legal_hold_tickets_are_kept_redacted_and_the_rest_erased(
    support: SupportConnector, desk: _Desk
) -> None:
    seeded = _take(lambda s: _on_hold(s) and len(s.activity.tickets) > 1)
    customer, activity = seeded.customer, seeded.activity
    held = activity.legal_hold_tickets
    assert any(customer.email in c.body for t in held for c in t.comments)  # data to redact
    subject = _everything(customer)
    [(user_id,)] = desk.query(
        "SELECT id FROM users WHERE external_id = ?", customer.customer_number
    )

    result = await erase_planned(support, subject, TODAY)

    counts = seeded.counts
    kept_comments = sum(len(t.comments) for t in held)
    kept_files = sum(t.attachments for t in held)
    assert result.deleted == {
        "user": 1,
        "tickets": counts["tickets"] - len(held),
        "comments": counts["comments"] - kept_comments,
        "attachments": counts["attachments"] - kept_files,
        "call_recordings": counts["call_recordings"],
        "satisfaction_ratings": counts["satisfaction_ratings"],
    }
    assert result.anonymised["comments"] > 0
    retained = {item.category: item for item in result.retained}
    assert retained["tickets"].count == len(held)
    assert retained["comments"].count == kept_comments
    for item in result.retained:
        assert item.reason is RetentionReason.LEGAL_CLAIM
        assert item.legal_basis == LEGAL_HOLD_BASIS
        assert item.until is None
    assert customer.customer_number in result.evidence
    assert not leaked_values(
        result.evidence, personal_values(subject, except_types=[IdentifierType.CUSTOMER_NUMBER])
    )

    # The desk itself: the user is gone for good, the kept tickets are filed under the customer
    # number, and their conversation holds none of the person's data in any written form.
    assert desk.query("SELECT count(*) FROM users WHERE id = ?", user_id) == [(0,)]
    kept = desk.query("SELECT id, tags FROM tickets WHERE requester_id = ? ORDER BY id", user_id)
    assert len(kept) == len(held)
    assert all("legal_hold" in str(tags).split() for _, tags in kept)
    assert desk.query(
        "SELECT count(*) FROM tickets WHERE external_id = ?", customer.customer_number
    ) == [(len(held),)]
    bodies = [
        str(body)
        for (body,) in desk.query(
            "SELECT body FROM comments WHERE ticket_id IN "
            "(SELECT id FROM tickets WHERE requester_id = ?)",
            user_id,
        )
    ]
    assert len(bodies) == kept_comments
    text = "\n".join(bodies)
    assert "▇" in text
    assert not leaked_values(text, _written_forms(customer)), "personal data left in kept tickets"
    assert not _name_words(customer).search(text), "a name is left in the kept tickets"
    assert desk.query("SELECT count(*) FROM satisfaction_ratings WHERE user_id = ?", user_id) == [
        (0,)
    ]

    # Found again by the customer number, and a second erasure changes nothing.
    after = await support.locate(subject)
    assert after.counts["user"] == 0 and after.counts["tickets"] == len(held)
    again = await erase_planned(support, subject, TODAY)
    assert sum(again.deleted.values()) == 0 and again.anonymised == {"comments": 0}
    assert sorted((i.category, i.count) for i in again.retained) == sorted(
        (i.category, i.count) for i in result.retained
    )


async def test_call_recordings_are_deleted(support: SupportConnector, desk: _Desk) -> None:
    seeded = _take(lambda s: s.counts["call_recordings"] > 0)
    customer = seeded.customer
    [(user_id,)] = desk.query(
        "SELECT id FROM users WHERE external_id = ?", customer.customer_number
    )
    assert desk.query("SELECT count(*) FROM calls WHERE user_id = ?", user_id) == [
        (seeded.counts["call_recordings"],)
    ]
    subject = await discover(support, _by_email(customer))
    result = await erase_planned(support, subject, TODAY)
    assert result.deleted["call_recordings"] == seeded.counts["call_recordings"]
    assert desk.query("SELECT count(*) FROM calls WHERE user_id = ?", user_id) == [(0,)]


async def test_a_lifted_hold_lets_a_later_erasure_delete_the_ticket(
    support: SupportConnector, desk: _Desk
) -> None:
    seeded = _take(_on_hold)
    subject = _everything(seeded.customer)
    first = await erase_planned(support, subject, TODAY)
    kept = {i.category: i.count for i in first.retained}
    assert kept["tickets"] == len(seeded.activity.legal_hold_tickets)
    # The dispute is settled: the support team removes the tag.
    with sqlite3.connect(desk.db) as conn:
        conn.execute(
            "UPDATE tickets SET tags = 'faktura' WHERE external_id = ?",
            (seeded.customer.customer_number,),
        )
    second = await erase_planned(support, subject, TODAY)
    assert second.retained == []
    assert second.deleted["tickets"] == kept["tickets"]
    assert not (await support.locate(subject)).found


# --- deleted users not yet purged ---------------------------------------------------------


def _soft_delete(desk: _Desk, user_id: object) -> None:
    """`DELETE /users/{id}` as an agent (or an erasure) makes it: the user is only deleted."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    answer = httpx.delete(f"{desk.url}/api/v2/users/{user_id}", headers=headers)
    assert answer.status_code == 200


async def test_a_purge_lost_after_the_deletion_is_seen_and_finished_by_the_retry(
    support: SupportConnector, desk: _Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker is lost between `DELETE /users/{id}` and the purge. Search no longer finds the
    user, but the desk still holds its name, e-mail and phone among the deleted users: the
    verification locate must count it, and the retried erasure must purge it."""
    seeded = _take(lambda s: not _on_hold(s) and s.counts["tickets"] > 0)
    customer = seeded.customer
    subject = _everything(customer)
    [(user_id,)] = desk.query(
        "SELECT id FROM users WHERE external_id = ?", customer.customer_number
    )
    plan = await planned_erasure(support, subject, TODAY)
    policy = load_policy(None)
    delete = Desk.delete
    lost: list[str] = []

    async def purge_lost_once(self: Desk, path: str, endpoint: str) -> bool:
        if endpoint == "deleted_users.delete" and not lost:
            lost.append(path)
            raise SystemUnavailable("support: worker lost (simulated)")
        return await delete(self, path, endpoint)

    monkeypatch.setattr(Desk, "delete", purge_lost_once)
    with pytest.raises(SystemUnavailable):
        await support.erase(subject, plan)
    assert lost == [f"/api/v2/deleted_users/{user_id}"]
    assert desk.query(
        "SELECT active, name = ?, email = ? FROM users WHERE id = ?",
        customer.name,
        customer.email.lower(),
        user_id,
    ) == [(0, 1, 1)]

    between = await support.locate(subject)
    assert between.counts["user"] == 1
    assert between.counts["tickets"] == 0  # deleted before the user
    assert not between.ambiguous
    assert leftovers(policy, plan, between) == ["user: 1 remain, the plan retains 0"]

    retried = await support.erase(subject, plan)  # Temporal's retry of the activity
    assert retried.deleted["user"] == 1
    assert "1 of them found among the deleted users" in retried.evidence
    assert not leaked_values(
        retried.evidence,
        personal_values(subject, except_types=[IdentifierType.CUSTOMER_NUMBER]),
    )
    assert desk.query("SELECT count(*) FROM users WHERE id = ?", user_id) == [(0,)]
    after = await support.locate(subject)
    assert not after.found and leftovers(policy, plan, after) == []
    again = await support.erase(subject, plan)
    assert sum(again.deleted.values()) == 0


async def test_a_deleted_user_is_found_by_email_and_phone_and_judged_by_its_name(
    support: SupportConnector, desk: _Desk
) -> None:
    """An agent deleted the user and nobody purged it: the subject's data is still held."""
    seeded = _take(lambda s: s.activity.user is not None and s.activity.user.phone is not None)
    customer = seeded.customer
    [(user_id, phone)] = desk.query(
        "SELECT id, phone FROM users WHERE external_id = ?", customer.customer_number
    )
    assert desk.query("SELECT count(*) FROM users WHERE phone = ?", phone) == [(1,)]
    _soft_delete(desk, user_id)
    for kind, value in ((IdentifierType.EMAIL, customer.email), (IdentifierType.PHONE, phone)):
        located = await support.locate(_ref((kind, str(value)), name=customer.name))
        assert located.counts["user"] == 1 and not located.ambiguous, kind
        assert located.learned == []  # nothing is learned from a user on its way out
    wrong = _ref((IdentifierType.EMAIL, customer.email), name="Helt Annan Person")
    assert (await support.locate(wrong)).ambiguous
    with pytest.raises(AmbiguousSubject):
        await erase_planned(support, wrong, TODAY)
    assert desk.query("SELECT active FROM users WHERE id = ?", user_id) == [(0,)]
    changed = await support.rectify(
        _by_email(customer), [FieldChange(field="name", value="Någon Annan")]
    )
    assert changed.changed == {}  # the desk cannot change a deleted user

    result = await erase_planned(support, _by_email(customer), TODAY)
    assert result.deleted["user"] == 1
    assert desk.query("SELECT count(*) FROM users WHERE id = ?", user_id) == [(0,)]
    assert not (await support.locate(_by_email(customer))).found


async def test_a_deleted_user_purged_meanwhile_is_done(
    support: SupportConnector, desk: _Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Somebody purges the user between the erasure's match and its purge: a 404, and done."""
    customer = _take(lambda s: not _on_hold(s)).customer
    [(user_id,)] = desk.query(
        "SELECT id FROM users WHERE external_id = ?", customer.customer_number
    )
    _soft_delete(desk, user_id)
    plan = await planned_erasure(support, _by_email(customer), TODAY)
    delete = Desk.delete

    async def purged_first(self: Desk, path: str, endpoint: str) -> bool:
        if endpoint == "deleted_users.delete":
            assert await delete(self, path, endpoint)  # the other purge
        return await delete(self, path, endpoint)

    monkeypatch.setattr(Desk, "delete", purged_first)
    result = await support.erase(_by_email(customer), plan)
    assert result.deleted["user"] == 0
    assert desk.query("SELECT count(*) FROM users WHERE id = ?", user_id) == [(0,)]


def test_redactor_finds_the_ways_people_write_their_data() -> None:
    subject = _ref(
        (IdentifierType.EMAIL, "asa.oberg12@gmail.com"),
        (IdentifierType.PHONE, "+46701234567"),
        (IdentifierType.PERSONAL_IDENTITY_NUMBER, "198503121234"),
        (IdentifierType.DOMAIN, "asaoberg12.se"),
        name="Åsa Öberg-Lind",
    )
    text = (
        "Jag heter Asa Oberg-Lind, Asa.Oberg12@Gmail.com, 070-123 45 67 eller +46 (0)70 1234567,"
        " pnr 850312-1234 / 19850312 1234, www.asaoberg12.se. Åsas sida. Kundnr K100001."
    )
    pieces = Redactor(subject).find(text)
    redacted = text
    for piece in pieces:
        redacted = redacted.replace(piece, "▇" * len(piece))
    assert "K100001" in redacted
    for form in ("oberg", "asa", "070", "+46", "850312", "1234", "gmail"):
        assert form not in redacted.lower(), form


# --- rate limits, outages, pagination -----------------------------------------------------


@pytest.fixture(scope="module")
def limited_desk(desk: _Desk) -> Iterator[str]:
    """The same database behind a server that allows one request a second."""
    port = free_port()
    server: ManagedProcess = sandbox_server(
        "support",
        port,
        f"sqlite:///{desk.db}",
        desk.root / "logs-limited",
        {"api_token": TOKEN, "rate_limit": "1", "rate_burst": "1"},
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def _exhaust(url: str) -> None:
    """Spend the server's request budget: stop at the first 429 (bounded). The next token comes
    a second later, far longer than the few milliseconds until the connector's request."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:
        for _ in range(20):
            if (await client.get("/api/v2/users/1")).status_code == 429:
                return
    pytest.fail("the rate-limited server never answered 429")


def _nobody() -> SubjectRef:
    """Found by two requests at once (a search that finds nobody, one page of deleted users):
    after `_exhaust` the first of them gets 429."""
    return _ref((IdentifierType.EMAIL, f"nobody.{uuid.uuid4().hex[:10]}@example.se"))


async def test_429_is_retried_after_retry_after(
    limited_desk: str, caplog: pytest.LogCaptureFixture
) -> None:
    connector = _connector(limited_desk, attempts=4, wait_initial=0.01)
    try:
        await _exhaust(limited_desk)
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="connectors.support"):
            result = await connector.locate(_nobody())
        elapsed = time.monotonic() - started
    finally:
        await connector.aclose()
    assert not result.found
    assert "HTTP 429" in caplog.text
    assert elapsed >= 0.9, "the connector must wait out Retry-After (1 s), not hammer the API"


async def test_429_after_the_last_retry_is_rate_limited(limited_desk: str) -> None:
    subject = _nobody()
    connector = _connector(limited_desk, attempts=1)
    try:
        await _exhaust(limited_desk)
        with pytest.raises(RateLimited) as error:
            await connector.locate(subject)
    finally:
        await connector.aclose()
    assert error.value.retryable
    assert error.value.retry_after is not None and error.value.retry_after >= 1
    assert not leaked_values(exception_text(error.value), personal_values(subject))


async def test_a_retry_after_longer_than_the_cap_is_left_to_the_workflow(
    limited_desk: str,
) -> None:
    connector = _connector(limited_desk, attempts=6, retry_after_cap=0.5)
    try:
        await _exhaust(limited_desk)
        started = time.monotonic()
        with pytest.raises(RateLimited):
            await connector.locate(_nobody())
        assert time.monotonic() - started < 0.5, "it must not sleep out a long Retry-After"
    finally:
        await connector.aclose()


async def test_outage_messages_hold_no_personal_data() -> None:
    host, port = dead_tcp_address()
    connector = _connector(f"http://{host}:{port}", attempts=3, wait_initial=0.01)
    subject = _by_email(customer_at(0, SEED))
    try:
        with pytest.raises(SystemUnavailable) as error:
            await connector.export(subject, RecordingSink())
    finally:
        await connector.aclose()
    text = exception_text(error.value)
    assert not leaked_values(text, personal_values(subject))
    assert error.value.__cause__ is None and error.value.__suppress_context__


async def test_pagination_runs_to_the_end(desk: _Desk) -> None:
    heavy = desk.heavy
    subject = _ref((IdentifierType.EMAIL, heavy.emails[0]), name=heavy.names[0])
    connector = _connector(desk.url, page_size=100)
    try:
        located = await connector.locate(subject)
        sink = RecordingSink(keep=False)
        exported = await connector.export(subject, sink)
    finally:
        await connector.aclose()
    assert heavy.expected_counts["tickets"] == HEAVY_TICKETS
    assert located.counts == heavy.expected_counts
    assert sink.counts == {k: v for k, v in heavy.expected_counts.items() if v}
    assert exported.counts == located.counts


# --- export, rectify, ambiguity, logs, settings -------------------------------------------


async def test_export_records(support: SupportConnector) -> None:
    seeded = _take(lambda s: s.counts["attachments"] > 0 and s.counts["call_recordings"] > 0)
    sink = RecordingSink()
    result = await support.export(_by_email(seeded.customer), sink)
    assert result.counts == seeded.counts
    (user,) = sink.records["user"]
    assert user["email"] == seeded.customer.email
    assert user["customer_number"] == seeded.customer.customer_number
    tickets = sink.records["tickets"]
    assert [t["subject"] for t in tickets] == [t.subject for t in seeded.activity.tickets]
    assert [t["legal_hold"] for t in tickets] == [t.legal_hold for t in seeded.activity.tickets]
    first = sink.records["comments"][0]
    assert first["author"] == "you"
    assert first["body"] == seeded.activity.tickets[0].comments[0].body
    replies = [c for c in sink.records["comments"] if c["author"] == "support"]
    assert replies, "the support team's replies are part of the conversation"
    for attachment in sink.records["attachments"]:
        assert str(attachment["content_url"]).startswith("https://")
    for call in sink.records["call_recordings"]:
        assert isinstance(call["duration_seconds"], int)


async def test_export_sink_errors_are_not_disguised(support: SupportConnector) -> None:
    class FullDisk:
        async def write(self, category: str, record: dict[str, object]) -> None:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await support.export(_by_email(_take().customer), FullDisk())


async def test_rectify_name_email_and_phone(support: SupportConnector, desk: _Desk) -> None:
    customer = _take().customer
    new_email = f"ny.adress.{uuid.uuid4().hex[:8]}@example.se"
    result = await support.rectify(
        _by_email(customer),
        [
            FieldChange(field="name", value="  Rättad   Person "),
            FieldChange(field="email", value=new_email.upper()),
            FieldChange(field="phone", value="070-111 22 33"),
            FieldChange(field="street", value="Storgatan 1"),
        ],
    )
    assert result.changed == {"user": 1}
    assert result.rejected_fields == ["street"]
    assert desk.query(
        "SELECT name, email, phone FROM users WHERE external_id = ?", customer.customer_number
    ) == [("Rättad Person", new_email, "+46701112233")]


async def test_rectify_refuses_an_address_somebody_else_has(support: SupportConnector) -> None:
    mine, theirs = _take().customer, _take().customer
    result = await support.rectify(
        _by_email(mine), [FieldChange(field="email", value=theirs.email)]
    )
    assert result.refused_fields == ["email"]
    assert result.rejected_fields == []
    assert result.changed == {}


async def test_shared_email_is_ambiguous_and_refused(
    support: SupportConnector, desk: _Desk
) -> None:
    first, second = _shared_email_pair()
    subject = _ref((IdentifierType.EMAIL, first.email), name=second.name)
    located = await support.locate(subject)
    assert located.ambiguous
    assert located.ambiguity_reason == (
        "email matches a user whose name differs from the name given"
    )
    for operation in (
        erase_planned(support, subject, TODAY),
        support.export(subject, RecordingSink()),
        support.rectify(subject, [FieldChange(field="name", value="Någon Annan")]),
    ):
        with pytest.raises(AmbiguousSubject) as error:
            await operation
        assert not leaked_values(exception_text(error.value), personal_values(subject))
    # Identifiers of two different people together are ambiguous too, names or not.
    both = _ref(
        (IdentifierType.EMAIL, first.email),
        (IdentifierType.CUSTOMER_NUMBER, second.customer_number),
    )
    assert (await support.locate(both)).ambiguous
    # Each of them, asked for with their own name, is one subject.
    own = await support.locate(_ref((IdentifierType.EMAIL, first.email), name=first.name))
    assert not own.ambiguous and own.counts["user"] == 1
    assert desk.query("SELECT count(*) FROM users WHERE email = ?", first.email) == [(1,)]


async def test_same_person_with_two_emails_is_found_through_the_phone(
    support: SupportConnector,
) -> None:
    first, second = [
        c for c in generate_customers(CUSTOMERS, SEED) if c.special == "two_emails" and c.index > 50
    ][:2]
    subject = await discover(support, _by_email(first))
    values = {(i.type, i.value) for i in subject.identifiers}
    assert (IdentifierType.EMAIL, second.email) in values
    assert (IdentifierType.CUSTOMER_NUMBER, second.customer_number) in values
    located = await support.locate(subject)
    assert not located.ambiguous
    one, two = seeded_support(first.index, SEED), seeded_support(second.index, SEED)
    assert located.counts == {k: one.counts[k] + two.counts[k] for k in located.counts}
    result = await erase_planned(support, subject, TODAY)
    assert result.deleted["user"] == 2
    assert not (await support.locate(_by_email(second))).counts["user"]


async def test_a_name_that_does_not_match_makes_the_subject_ambiguous(
    support: SupportConnector,
) -> None:
    customer = _take().customer
    wrong = _ref((IdentifierType.EMAIL, customer.email), name="Helt Annan Person")
    assert (await support.locate(wrong)).ambiguous
    for name in (customer.name.upper(), f"{customer.last_name} {customer.first_name}"):
        right = _ref((IdentifierType.EMAIL, customer.email), name=name)
        assert not (await support.locate(right)).ambiguous


async def test_a_company_may_be_named_by_its_company_name(support: SupportConnector) -> None:
    company = next(
        c
        for c in generate_customers(CUSTOMERS, SEED)
        if c.kind == "company" and seeded_support(c.index, SEED).activity.user is not None
    )
    by_company = _ref((IdentifierType.EMAIL, company.email), name=company.name)
    located = await support.locate(by_company)
    assert located.found and not located.ambiguous


async def test_no_personal_data_in_logs(
    support: SupportConnector, caplog: pytest.LogCaptureFixture
) -> None:
    seeded = _take(_on_hold)
    subject = _everything(seeded.customer)
    with caplog.at_level(logging.DEBUG):
        full = await discover(support, subject)
        await support.export(full, RecordingSink())
        await support.rectify(full, [FieldChange(field="phone", value="0709998877")])
        await erase_planned(support, full, TODAY)
    assert caplog.records, "the connector logs what it did"
    assert not leaked_values(caplog.text, personal_values(full)), "log lines hold personal data"


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DSR_SUPPORT_BASE_URL", "DSR_SUPPORT_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="DSR_SUPPORT_BASE_URL"):
        SupportConnector.from_settings()
    monkeypatch.setenv("DSR_SUPPORT_BASE_URL", "http://127.0.0.1:9")
    with pytest.raises(ConfigurationError, match="DSR_SUPPORT_API_TOKEN"):
        SupportConnector.from_settings()
    monkeypatch.setenv("DSR_SUPPORT_API_TOKEN", "s3cret-token")
    monkeypatch.setenv("DSR_SUPPORT_RETRY_ATTEMPTS", "0")
    with pytest.raises(ConfigurationError) as error:
        SupportConnector.from_settings()
    assert "retry_attempts" in str(error.value) and "s3cret" not in str(error.value)
    monkeypatch.setenv("DSR_SUPPORT_RETRY_ATTEMPTS", "3")
    monkeypatch.setenv("DSR_SUPPORT_PAGE_SIZE", "50")
    connector = SupportConnector.from_settings()
    assert "s3cret" not in repr(connector)
    monkeypatch.setenv("DSR_SUPPORT_BASE_URL", "ftp://desk.example.se")
    with pytest.raises(ConfigurationError):
        SupportConnector.from_settings()


async def test_a_wrong_token_is_an_authentication_error(desk: _Desk) -> None:
    secret = "Zq9-not-the-token-Zq9"
    connector = SupportConnector(desk.url, secret, retry=RetryPolicy(attempts=4))
    try:
        with pytest.raises(AuthenticationError) as error:
            await erase_planned(connector, _by_email(customer_at(0, SEED)), TODAY)
    finally:
        await connector.aclose()
    assert not error.value.retryable
    assert secret not in exception_text(error.value)
