"""The newsletter connector: the contract suite against the real sandbox server, plus its own rules.

One session fixture seeds a SQLite file (200 customers) and starts the listmonk-shaped sandbox as
a subprocess on a free port; every test talks to it over HTTP. Tests take their subjects from
disjoint pools of seeded customers, so no test sees another test's erasure. Faults (an outage,
a rate limit) come from extra servers on the same file, started with the sandbox's fault options.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from connectors.base import (
    AmbiguousSubject,
    ConfigurationError,
    RateLimited,
    RetryPolicy,
    SystemUnavailable,
)
from connectors.newsletter import (
    RESTRICTION_MARK,
    SUPPRESSION_LEGAL_BASIS,
    NewsletterConnector,
    blocklist_hash,
)
from connectors.newsletter._matching import search_query
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
)
from devstack.localstack import ManagedProcess, free_port, sandbox_server
from sandbox.newsletter import SeededNewsletterCustomer, seed_newsletter, seeded_newsletter
from sandbox.newsletter import blocklist_hash as sandbox_blocklist_hash
from sandbox.newsletter._query import parse_query
from sandbox.newsletter.schema import subscribers as subscribers_table
from sandbox.people import Customer, generate_customers
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.status import RetentionReason
from schemas.subject import Identifier, SubjectRef

SEED = 3
CUSTOMERS = 200
USER = "dsr-test"
TOKEN = "newsletter-contract-token"
SALT = "newsletter-contract-salt"
TODAY = date(2026, 11, 25)


@dataclass
class Sandbox:
    url: str
    database: Path
    root: Path
    database_url: str


def _start(root: Path, database_url: str, name: str, **options: str) -> tuple[str, ManagedProcess]:
    port = free_port()
    process = sandbox_server(
        "newsletter",
        port,
        database_url,
        root / name,
        {"api_user": USER, "api_token": TOKEN, "blocklist_salt": SALT, **options},
    )
    return f"http://127.0.0.1:{port}", process


@pytest.fixture(scope="session")
async def newsletter_sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    root = tmp_path_factory.mktemp("newsletter")
    database = root / "newsletter.db"
    database_url = f"sqlite+aiosqlite:///{database}"
    await seed_newsletter(database_url, CUSTOMERS, SEED, blocklist_salt=SALT)
    url, process = await asyncio.to_thread(_start, root, database_url, "logs")
    try:
        yield Sandbox(url, database, root, database_url)
    finally:
        process.stop()


def _connector(
    url: str, *, attempts: int = 3, retry_after_cap: float = 2.0, **overrides: Any
) -> NewsletterConnector:
    settings: dict[str, Any] = {
        "timeout": 5.0,
        "connect_timeout": 2.0,
        "retry": RetryPolicy(
            attempts=attempts, wait_initial=0.01, wait_jitter=0.01, retry_after_cap=retry_after_cap
        ),
        "page_size": 3,  # small pages: every export and search pages through
    }
    settings.update(overrides)
    token = settings.pop("api_token", TOKEN)
    return NewsletterConnector(url, USER, token, SALT, **settings)


def _ref(*pairs: tuple[IdentifierType, str], name: str | None = None) -> SubjectRef:
    return SubjectRef(
        identifiers=tuple(Identifier(type=kind, value=value) for kind, value in pairs), name=name
    )


def _by_email(customer: Customer) -> SubjectRef:
    return _ref((IdentifierType.EMAIL, customer.email), name=customer.name)


def _seeded(predicate: Callable[[SeededNewsletterCustomer], bool]) -> Iterator[Any]:
    for customer in generate_customers(CUSTOMERS, SEED):
        seeded = seeded_newsletter(customer.index, SEED)
        if predicate(seeded):
            yield seeded


def _plain_subscriber(seeded: SeededNewsletterCustomer) -> bool:
    """An active private person with an enabled subscriber of their own."""
    customer, record = seeded.customer, seeded.activity.subscriber
    return (
        record is not None
        and record.status == "enabled"
        and customer.special is None
        and customer.kind == "person"
        and customer.status != "anonymised"
    )


# Disjoint pools: the contract takes even rows, the newsletter's own tests odd ones.
def _contract_pool() -> Iterator[SeededNewsletterCustomer]:
    return _seeded(lambda s: _plain_subscriber(s) and s.customer.index % 2 == 0)


_rule_pool = _seeded(lambda s: _plain_subscriber(s) and s.customer.index % 2 == 1)


# --- the contract ---------------------------------------------------------------------------


class TestNewsletterConnector(ConnectorContract):
    @pytest.fixture(scope="class")
    @classmethod
    def subject_pool(cls) -> Iterator[SeededNewsletterCustomer]:
        return _contract_pool()

    @pytest.fixture
    async def connector(self, newsletter_sandbox: Sandbox) -> AsyncIterator[NewsletterConnector]:
        connector = _connector(newsletter_sandbox.url)
        yield connector
        await connector.aclose()

    @pytest.fixture
    def known_subject(
        self, newsletter_sandbox: Sandbox, subject_pool: Iterator[SeededNewsletterCustomer]
    ) -> KnownSubject:
        seeded = next(subject_pool)
        return KnownSubject(_by_email(seeded.customer), seeded.counts)

    @pytest.fixture
    def unknown_subject(self) -> SubjectRef:
        return _ref(
            (IdentifierType.EMAIL, f"nobody.{uuid.uuid4().hex[:10]}@example.invalid"),
            (IdentifierType.CUSTOMER_NUMBER, "K999999999"),
            name="Ingen Alls",
        )

    @pytest.fixture
    def ambiguous_subject(self) -> SubjectRef:
        """The second person of a household sharing one subscribed address."""
        second = next(_seeded(lambda s: s.activity.shared_with is not None)).customer
        return _ref(
            (IdentifierType.EMAIL, second.email),
            (IdentifierType.CUSTOMER_NUMBER, second.customer_number),
            name=second.name,
        )

    @pytest.fixture
    async def unreachable_connector(self) -> AsyncIterator[NewsletterConnector]:
        host, port = dead_tcp_address()
        connector = _connector(f"http://{host}:{port}")
        yield connector
        await connector.aclose()

    @pytest.fixture
    async def bad_credentials_connector(
        self, newsletter_sandbox: Sandbox
    ) -> AsyncIterator[NewsletterConnector]:
        connector = _connector(newsletter_sandbox.url, api_token="not-the-token")
        yield connector
        await connector.aclose()


# --- the newsletter's own rules -------------------------------------------------------------


@pytest.fixture
async def newsletter(newsletter_sandbox: Sandbox) -> AsyncIterator[NewsletterConnector]:
    connector = _connector(newsletter_sandbox.url)
    yield connector
    await connector.aclose()


@pytest.fixture
async def api(newsletter_sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's API, for checking what the connector did from the system's side."""
    async with httpx.AsyncClient(
        base_url=newsletter_sandbox.url,
        headers={"Authorization": f"token {USER}:{TOKEN}"},
        timeout=5,
    ) as client:
        yield client


def _rows(sandbox: Sandbox, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(sandbox.database) as conn:
        return list(conn.execute(sql, params))


_BY_SUBSCRIBER = {
    "campaign_views": "SELECT count(*) FROM campaign_views WHERE subscriber_id = ?",
    "link_clicks": "SELECT count(*) FROM link_clicks WHERE subscriber_id = ?",
    "subscriber_lists": "SELECT count(*) FROM subscriber_lists WHERE subscriber_id = ?",
}


def _subscriber_id(sandbox: Sandbox, email: str) -> int | None:
    found = _rows(sandbox, "SELECT id FROM subscribers WHERE email = ?", email.lower())
    return found[0][0] if found else None


async def test_erasure_keeps_only_the_blocklist_hash_and_refuses_reimport(
    newsletter: NewsletterConnector, newsletter_sandbox: Sandbox, api: httpx.AsyncClient
) -> None:
    seeded = next(_rule_pool)
    customer = seeded.customer
    subject = await discover(newsletter, _by_email(customer))

    result = await erase_planned(newsletter, subject, TODAY)

    assert result.deleted == {k: v for k, v in seeded.counts.items() if k != "blocklist"}, (
        "every subscriber record is deleted"
    )
    [kept] = result.retained
    assert kept.category == "blocklist"
    assert kept.count == 1
    assert kept.reason is RetentionReason.SUPPRESSION
    assert kept.until is None
    assert kept.legal_basis == SUPPRESSION_LEGAL_BASIS
    assert customer.customer_number in result.evidence

    after = await newsletter.locate(subject)
    assert {k: v for k, v in after.counts.items() if v} == {"blocklist": 1}

    # The import refuses the address, however it is written.
    spelled = f"  {customer.email.upper()} "
    response = await api.post(
        "/api/import/subscribers",
        json={"subscribers": [{"email": spelled, "name": customer.name}], "lists": [1]},
    )
    response.raise_for_status()
    assert response.json()["data"]["results"] == [{"index": 0, "status": "blocklisted", "id": None}]
    created = await api.post("/api/subscribers", json={"email": customer.email, "name": "X"})
    assert created.status_code == 400
    assert _subscriber_id(newsletter_sandbox, customer.email) is None


async def test_erasure_deletes_the_tracking(
    newsletter: NewsletterConnector, newsletter_sandbox: Sandbox
) -> None:
    seeded = next(s for s in _rule_pool if s.activity.subscriber and s.activity.subscriber.clicks)
    subscriber_id = _subscriber_id(newsletter_sandbox, seeded.customer.email)
    assert subscriber_id is not None
    for table in _BY_SUBSCRIBER:
        before = _rows(newsletter_sandbox, _BY_SUBSCRIBER[table], subscriber_id)
        assert before[0][0] > 0, table

    await erase_planned(newsletter, await discover(newsletter, _by_email(seeded.customer)), TODAY)

    for table in _BY_SUBSCRIBER:
        after = _rows(newsletter_sandbox, _BY_SUBSCRIBER[table], subscriber_id)
        assert after[0][0] == 0, table
    digest = sandbox_blocklist_hash(seeded.customer.email, SALT)
    assert (
        _rows(newsletter_sandbox, "SELECT count(*) FROM blocklist_hashes WHERE hash = ?", digest)[
            0
        ][0]
        == 1
    )


async def test_unsubscribe_keeps_the_subscriber_with_every_subscription_ended(
    newsletter: NewsletterConnector, api: httpx.AsyncClient, newsletter_sandbox: Sandbox
) -> None:
    seeded = next(
        s
        for s in _rule_pool
        if s.activity.subscriber
        and any(x.status != "unsubscribed" for x in s.activity.subscriber.subscriptions)
    )
    subject = _by_email(seeded.customer)
    record = seeded.activity.subscriber
    assert record is not None

    first = await newsletter.unsubscribe(subject)
    again = await newsletter.unsubscribe(subject)

    assert first.unsubscribed == {"subscriptions": len(record.subscriptions)}
    assert again == first, "unsubscribe reports the state reached: idempotent"
    subscriber_id = _subscriber_id(newsletter_sandbox, seeded.customer.email)
    document = (await api.get(f"/api/subscribers/{subscriber_id}")).json()["data"]
    assert document["status"] == "enabled"
    assert {s["subscription_status"] for s in document["lists"]} == {"unsubscribed"}
    located = await newsletter.locate(subject)
    assert located.counts["subscriber"] == 1, "the subscriber is kept"
    assert located.counts["subscriptions"] == len(record.subscriptions)
    assert located.counts["campaign_views"] == len(record.views), "tracking is kept too"


async def test_restriction_suspends_and_lifting_restores_the_subscriptions(
    newsletter: NewsletterConnector, api: httpx.AsyncClient, newsletter_sandbox: Sandbox
) -> None:
    seeded = next(
        s
        for s in _rule_pool
        if s.activity.subscriber
        and len({x.status for x in s.activity.subscriber.subscriptions}) > 1
    )
    record = seeded.activity.subscriber
    assert record is not None
    subject = _by_email(seeded.customer)
    subscriber_id = _subscriber_id(newsletter_sandbox, seeded.customer.email)
    seeded_statuses = {s.list_id: s.status for s in record.subscriptions}

    restricted = await newsletter.restrict(subject)
    assert restricted.restricted == {"subscriber": 1}
    document = (await api.get(f"/api/subscribers/{subscriber_id}")).json()["data"]
    assert document["status"] == "blocklisted"
    assert {s["subscription_status"] for s in document["lists"]} == {"unsubscribed"}
    assert RESTRICTION_MARK in document["attribs"]

    lifted = await newsletter.lift_restriction(subject)
    assert lifted.restricted == {"subscriber": 1}
    document = (await api.get(f"/api/subscribers/{subscriber_id}")).json()["data"]
    assert document["status"] == "enabled"
    assert {s["id"]: s["subscription_status"] for s in document["lists"]} == seeded_statuses
    assert RESTRICTION_MARK not in document["attribs"]
    assert document["attribs"]["customer_number"] == seeded.customer.customer_number


async def test_an_objection_during_a_restriction_outlives_the_restriction(
    newsletter: NewsletterConnector, api: httpx.AsyncClient, newsletter_sandbox: Sandbox
) -> None:
    seeded = next(
        s
        for s in _rule_pool
        if s.activity.subscriber
        and any(x.status == "confirmed" for x in s.activity.subscriber.subscriptions)
    )
    subject = _by_email(seeded.customer)
    await newsletter.restrict(subject)
    await newsletter.unsubscribe(subject)
    assert (await newsletter.lift_restriction(subject)).restricted == {"subscriber": 1}
    subscriber_id = _subscriber_id(newsletter_sandbox, seeded.customer.email)
    document = (await api.get(f"/api/subscribers/{subscriber_id}")).json()["data"]
    assert document["status"] == "enabled"
    assert {s["subscription_status"] for s in document["lists"]} == {"unsubscribed"}


async def test_a_subscriber_blocklisted_for_bounces_is_not_re_enabled(
    newsletter: NewsletterConnector, api: httpx.AsyncClient, newsletter_sandbox: Sandbox
) -> None:
    seeded = next(
        _seeded(
            lambda s: (
                s.activity.subscriber is not None and s.activity.subscriber.status == "blocklisted"
            )
        )
    )
    subject = _by_email(seeded.customer)
    assert (await newsletter.restrict(subject)).restricted == {"subscriber": 1}
    assert (await newsletter.lift_restriction(subject)).restricted == {}
    subscriber_id = _subscriber_id(newsletter_sandbox, seeded.customer.email)
    document = (await api.get(f"/api/subscribers/{subscriber_id}")).json()["data"]
    assert document["status"] == "blocklisted"


async def test_household_address_is_ambiguous_only_for_the_other_person(
    newsletter: NewsletterConnector,
) -> None:
    second = next(_seeded(lambda s: s.activity.shared_with is not None))
    first = seeded_newsletter(second.activity.shared_with or 0, SEED)
    assert first.customer.email == second.customer.email

    owner = await newsletter.locate(
        _ref(
            (IdentifierType.EMAIL, first.customer.email),
            (IdentifierType.CUSTOMER_NUMBER, first.customer.customer_number),
            name=first.customer.name,
        )
    )
    assert not owner.ambiguous
    assert owner.counts == first.counts

    by_name = await newsletter.locate(
        _ref((IdentifierType.EMAIL, second.customer.email), name=second.customer.name)
    )
    assert by_name.ambiguous
    assert by_name.learned == []
    with pytest.raises(AmbiguousSubject):
        await newsletter.unsubscribe(_by_email(second.customer))
    with pytest.raises(AmbiguousSubject):
        await newsletter.rectify(_by_email(second.customer), [FieldChange(field="name", value="X")])


async def test_person_with_two_addresses_is_one_subject(newsletter: NewsletterConnector) -> None:
    pairs = _seeded(lambda s: s.customer.special == "two_emails" and s.customer.index >= 50)
    one, two = next(pairs), next(pairs)
    assert one.customer.personal_identity_number == two.customer.personal_identity_number

    by_first = await newsletter.locate(_by_email(one.customer))
    assert {(i.type, i.value) for i in by_first.learned} == {
        (IdentifierType.CUSTOMER_NUMBER, one.customer.customer_number)
    }
    # What discovery across systems brings (billing links the two rows by personnummer):
    subject = _ref(
        (IdentifierType.EMAIL, one.customer.email),
        (IdentifierType.EMAIL, two.customer.email),
        (IdentifierType.CUSTOMER_NUMBER, one.customer.customer_number),
        (IdentifierType.CUSTOMER_NUMBER, two.customer.customer_number),
        name=one.customer.name,
    )
    located = await newsletter.locate(subject)
    assert not located.ambiguous
    assert located.counts == {k: one.counts[k] + two.counts[k] for k in located.counts}

    rectified = await newsletter.rectify(
        subject, [FieldChange(field="email", value="ny.adress@example.se")]
    )
    assert rectified.refused_fields == ["email"], "one address cannot replace two"
    assert rectified.rejected_fields == []

    result = await erase_planned(newsletter, subject, TODAY)
    assert result.deleted["subscriber"] == 2
    assert [(i.category, i.count) for i in result.retained] == [("blocklist", 2)]


async def test_locate_by_customer_number_learns_the_address(
    newsletter: NewsletterConnector,
) -> None:
    seeded = next(_rule_pool)
    located = await newsletter.locate(
        _ref((IdentifierType.CUSTOMER_NUMBER, seeded.customer.customer_number.lower()))
    )
    assert located.counts == seeded.counts
    assert Identifier(type=IdentifierType.EMAIL, value=seeded.customer.email) in located.learned


async def test_previously_erased_customer_is_only_on_the_blocklist(
    newsletter: NewsletterConnector,
) -> None:
    seeded = next(_seeded(lambda s: s.activity.blocklisted))
    subject = _ref((IdentifierType.EMAIL, seeded.customer.email))
    located = await newsletter.locate(subject)
    assert {k: v for k, v in located.counts.items() if v} == {"blocklist": 1}
    sink = RecordingSink()
    await newsletter.export(subject, sink)
    assert sink.counts == {"blocklist": 1}
    assert sink.records["blocklist"][0]["email"] == seeded.customer.email


async def test_rectify_to_an_address_in_use_keeps_the_address(
    newsletter: NewsletterConnector, api: httpx.AsyncClient, newsletter_sandbox: Sandbox
) -> None:
    seeded, other = next(_rule_pool), next(_rule_pool)
    result = await newsletter.rectify(
        _by_email(seeded.customer),
        [
            FieldChange(field="email", value=other.customer.email.upper()),
            FieldChange(field="name", value="  Ny   Namnsson "),
            FieldChange(field="phone", value="+46701234567"),
        ],
    )
    assert result.rejected_fields == ["phone"]
    assert result.refused_fields == ["email"]  # another subscriber's
    assert result.changed == {"subscriber": 1}
    subscriber_id = _subscriber_id(newsletter_sandbox, seeded.customer.email)
    document = (await api.get(f"/api/subscribers/{subscriber_id}")).json()["data"]
    assert document["name"] == "Ny Namnsson"
    assert document["email"] == seeded.customer.email


async def test_export_pages_through_every_record(newsletter_sandbox: Sandbox) -> None:
    seeded = next(
        s for s in _rule_pool if s.activity.subscriber and len(s.activity.subscriber.views) >= 3
    )
    connector = _connector(newsletter_sandbox.url, page_size=1)
    try:
        sink = RecordingSink()
        result = await connector.export(_by_email(seeded.customer), sink)
    finally:
        await connector.aclose()
    expected = {k: v for k, v in seeded.counts.items() if v}
    assert sink.counts == expected
    assert {k: v for k, v in result.counts.items() if v} == expected
    record = seeded.activity.subscriber
    assert record is not None
    viewed = sorted(str(r["viewed_at"]) for r in sink.records["campaign_views"])
    assert viewed == sorted(v.created_at.isoformat() for v in record.views)


async def test_export_sink_errors_are_not_disguised(newsletter: NewsletterConnector) -> None:
    class FullDisk:
        async def write(self, category: str, record: dict[str, object]) -> None:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await newsletter.export(_by_email(next(_rule_pool).customer), FullDisk())


async def test_no_personal_data_in_logs(
    newsletter: NewsletterConnector, caplog: pytest.LogCaptureFixture
) -> None:
    seeded = next(_rule_pool)
    with caplog.at_level(logging.DEBUG):
        subject = await discover(newsletter, _by_email(seeded.customer))
        await newsletter.export(subject, RecordingSink())
        await newsletter.rectify(subject, [FieldChange(field="name", value=seeded.customer.name)])
        await newsletter.unsubscribe(subject)
        await erase_planned(newsletter, subject, TODAY)
    assert any(r.name == "httpx" for r in caplog.records), "httpx logs every request"
    assert any(r.name == "connectors.newsletter" for r in caplog.records)
    values = [*personal_values(subject), seeded.customer.email.replace("@", "%40")]
    assert len(leaked_values(caplog.text, values)) == 0, "log lines hold personal data"


# --- robustness -----------------------------------------------------------------------------


async def test_an_outage_is_ridden_out_with_retries(
    newsletter_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    url, process = await asyncio.to_thread(
        _start, newsletter_sandbox.root, newsletter_sandbox.database_url, "flaky", fail_requests="2"
    )
    try:
        seeded = next(_rule_pool)
        connector = _connector(url, attempts=4)
        try:
            with caplog.at_level(logging.INFO, logger="connectors.newsletter"):
                located = await connector.locate(_by_email(seeded.customer))
        finally:
            await connector.aclose()
        assert located.counts == seeded.counts
        assert "(SystemUnavailable), attempt 1 of 4" in caplog.text
    finally:
        process.stop()


async def test_a_long_outage_is_a_retryable_error(newsletter_sandbox: Sandbox) -> None:
    url, process = await asyncio.to_thread(
        _start,
        newsletter_sandbox.root,
        newsletter_sandbox.database_url,
        "down",
        fail_requests="100",
    )
    try:
        seeded = next(_rule_pool)
        connector = _connector(url, attempts=2)
        try:
            with pytest.raises(SystemUnavailable) as error:
                await connector.locate(_by_email(seeded.customer))
        finally:
            await connector.aclose()
        assert "HTTP 503" in str(error.value)
        assert error.value.__cause__ is None
        assert error.value.__context__ is None or error.value.__suppress_context__
        text = exception_text(error.value)
        assert not leaked_values(text, personal_values(_by_email(seeded.customer)))
    finally:
        process.stop()


async def test_rate_limits_honour_retry_after(newsletter_sandbox: Sandbox) -> None:
    url, process = await asyncio.to_thread(
        _start,
        newsletter_sandbox.root,
        newsletter_sandbox.database_url,
        "limited",
        rate_limit="4",
        retry_after="1",
    )
    try:
        seeded = next(_rule_pool)
        subject = _by_email(seeded.customer)
        patient = _connector(url, attempts=6)
        impatient = _connector(url, attempts=6, retry_after_cap=0.5)
        try:
            started = asyncio.get_running_loop().time()
            # A locate by e-mail is four requests; the server allows four at once, then 4/s.
            results = [await patient.locate(subject) for _ in range(2)]
            waited = asyncio.get_running_loop().time() - started
            assert all(r.counts == seeded.counts for r in results)
            assert waited >= 1.0, "the client waited as Retry-After asked"
            with pytest.raises(RateLimited) as error:  # Retry-After above the cap: Temporal waits
                await _locate_times(impatient, subject, 3)
            assert error.value.retry_after == 1.0
        finally:
            await patient.aclose()
            await impatient.aclose()
    finally:
        process.stop()


async def _locate_times(connector: NewsletterConnector, subject: SubjectRef, times: int) -> None:
    for _ in range(times):
        await connector.locate(subject)


def test_locate_lookups_are_index_searches(newsletter_sandbox: Sandbox) -> None:
    """What the connector asks for is, inside the sandbox, an index lookup."""
    with sqlite3.connect(newsletter_sandbox.database) as conn:
        for kind, value in (
            (IdentifierType.EMAIL, "o'brien@example.se"),
            (IdentifierType.CUSTOMER_NUMBER, "K100001"),
        ):
            statement = subscribers_table.select().where(parse_query(search_query(kind, value)))
            compiled = statement.compile(dialect=sqlite_dialect.dialect())
            params = [compiled.params[name] for name in compiled.positiontup or []]
            plan = " ".join(
                row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled}", params)
            )
            assert "SEARCH subscribers USING" in plan, (kind, plan)
            assert "INDEX" in plan, (kind, plan)
            assert "SCAN subscribers" not in plan, (kind, plan)
        for table, sql in _BY_SUBSCRIBER.items():
            plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", (1,)))
            assert "USING" in plan and "INDEX" in plan, (table, plan)


def test_the_hash_is_the_one_the_sandbox_computes() -> None:
    for address in ("anna@example.se", "  Anna@Example.SE ", "o'brien+news@example.se"):
        assert blocklist_hash(address, SALT) == sandbox_blocklist_hash(address, SALT)
    assert blocklist_hash("anna@example.se", SALT) != blocklist_hash("anna@example.se", "other")
    assert blocklist_hash("ANNA@example.se", SALT) == blocklist_hash("anna@example.se", SALT)


# --- configuration --------------------------------------------------------------------------


def test_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BASE_URL", "API_USER", "API_TOKEN", "BLOCKLIST_SALT", "TIMEOUT"):
        monkeypatch.delenv(f"DSR_NEWSLETTER_{name}", raising=False)
    with pytest.raises(ConfigurationError) as missing:
        NewsletterConnector.from_settings()
    assert "DSR_NEWSLETTER_BASE_URL" in str(missing.value)
    assert "DSR_NEWSLETTER_BLOCKLIST_SALT" in str(missing.value)
    monkeypatch.setenv("DSR_NEWSLETTER_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DSR_NEWSLETTER_API_USER", USER)
    monkeypatch.setenv("DSR_NEWSLETTER_API_TOKEN", "secret-token-value")
    monkeypatch.setenv("DSR_NEWSLETTER_BLOCKLIST_SALT", "secret-salt-value")
    monkeypatch.setenv("DSR_NEWSLETTER_TIMEOUT", "-1")
    with pytest.raises(ConfigurationError) as invalid:
        NewsletterConnector.from_settings()
    assert "timeout" in str(invalid.value)
    assert "secret" not in str(invalid.value)
    monkeypatch.setenv("DSR_NEWSLETTER_TIMEOUT", "3")
    connector = NewsletterConnector.from_settings()
    assert "secret" not in repr(connector)


@pytest.mark.parametrize("url", ["not a url", "ftp://files.example/", "http://", ""])
def test_bad_base_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        NewsletterConnector(url, USER, TOKEN, SALT)


async def test_a_retried_rectification_that_moved_and_renamed_the_subscriber_reports_it(
    newsletter: NewsletterConnector,
) -> None:
    """The first attempt moved the subscriber to the new address and renamed it, then the
    worker died: the retry, with the subject's old e-mail and name, must still report it."""
    seeded = next(_rule_pool)
    customer = seeded.customer
    subject = _by_email(customer)  # e-mail only: a newsletter-only subscriber
    changes = [
        FieldChange(field="email", value=f"flyttad.{customer.index}@example.se"),
        FieldChange(field="name", value=f"{customer.first_name} Nyström"),
    ]
    first = await newsletter.rectify(subject, changes)
    again = await newsletter.rectify(subject, changes)
    assert first.changed == again.changed == {"subscriber": 1}
    assert again.refused_fields == [] and again.rejected_fields == []
