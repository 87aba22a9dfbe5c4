"""A company's mailboxes are other people's addresses: discovery across systems must not make
them the subject's.

The hosting account of a company holds mailboxes such as kontakt@, faktura@ and order@ on its
domain; colleagues subscribe to the newsletter with them. When the company's contact person
objects to direct marketing or asks for erasure, discovery (hosting, then newsletter, with the
identifiers learned merged in, as `DsrWorkflow` does) must leave the colleague's subscriber as
it was: once, hosting learned every mailbox address as the subject's e-mail, and the objection
unsubscribed the colleague and the erasure deleted them. Real newsletter sandbox over HTTP,
hosting on SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from connectors.base import RetryPolicy
from connectors.hosting import HostingConnector
from connectors.newsletter import NewsletterConnector
from devstack.localstack import free_port, sandbox_server
from policy.loader import load_policy
from policy.planner import plan_request
from sandbox.hosting import SeededHosting, seed_hosting, seeded_hosting
from sandbox.newsletter import seed_newsletter
from sandbox.people import REFERENCE_DATE
from schemas.events import RequestKind
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef

SEED, CUSTOMERS = 7, 200
USER, TOKEN, SALT = "api", "shared-mailbox-token", "shared-mailbox-salt"


@dataclass(frozen=True)
class Systems:
    hosting_url: str
    homes: Path
    newsletter_url: str


@pytest.fixture(scope="module")
def systems(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Systems]:
    import asyncio

    root = tmp_path_factory.mktemp("shared-mailboxes")
    hosting_url = f"sqlite+aiosqlite:///{root / 'hosting.db'}"
    newsletter_db = f"sqlite+aiosqlite:///{root / 'newsletter.db'}"

    async def seed() -> None:
        await seed_hosting(hosting_url, CUSTOMERS, SEED, root / "homes")
        await seed_newsletter(newsletter_db, CUSTOMERS, SEED, blocklist_salt=SALT)

    asyncio.run(seed())
    port = free_port()
    server = sandbox_server(
        "newsletter",
        port,
        newsletter_db,
        root,
        {"api_user": USER, "api_token": TOKEN, "blocklist_salt": SALT},
    )
    try:
        yield Systems(hosting_url, root / "homes", f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def _companies() -> list[SeededHosting]:
    return [
        s
        for i in range(CUSTOMERS)
        if (s := seeded_hosting(i, SEED)).account is not None
        and s.customer.kind == "company"
        and s.customer.special is None
        and s.customer.status == "active"
        and len(s.account.mailboxes) > 1
    ]


def _colleague_address(company: SeededHosting) -> str:
    assert company.account is not None
    own = company.customer.email.lower()
    return next(m.address for m in company.account.mailboxes if m.address.lower() != own)


async def _subscribe(systems: Systems, address: str, name: str) -> int:
    async with httpx.AsyncClient(base_url=systems.newsletter_url, auth=(USER, TOKEN)) as http:
        response = await http.post(
            "/api/subscribers",
            json={"email": address, "name": name, "lists": [1], "preconfirm_subscriptions": True},
        )
        response.raise_for_status()
        return int(response.json()["data"]["id"])


async def _subscriber(systems: Systems, subscriber_id: int) -> httpx.Response:
    async with httpx.AsyncClient(base_url=systems.newsletter_url, auth=(USER, TOKEN)) as http:
        return await http.get(f"/api/subscribers/{subscriber_id}")


@pytest.fixture
async def connectors(
    systems: Systems,
) -> AsyncIterator[tuple[HostingConnector, NewsletterConnector]]:
    hosting = HostingConnector(systems.hosting_url, systems.homes)
    newsletter = NewsletterConnector(
        systems.newsletter_url, USER, TOKEN, SALT, retry=RetryPolicy(attempts=2)
    )
    try:
        yield hosting, newsletter
    finally:
        await hosting.aclose()
        await newsletter.aclose()


async def _discovered(
    company: SeededHosting, hosting: HostingConnector, newsletter: NewsletterConnector
) -> SubjectRef:
    """The contact person as the portal sends them (e-mail, customer number), after discovery
    in both systems until nothing new is learned."""
    subject = SubjectRef(
        identifiers=(
            Identifier(type=IdentifierType.EMAIL, value=company.customer.email),
            Identifier(type=IdentifierType.CUSTOMER_NUMBER, value=company.customer.customer_number),
        )
    )
    for _ in range(3):
        learned: list[Identifier] = []
        for connector in (hosting, newsletter):
            result = await connector.locate(subject)
            assert not result.ambiguous, result.ambiguity_reason
            learned += result.learned
        merged = subject.merged(learned)
        if merged.identifiers == subject.identifiers:
            break
        subject = merged
    return subject


async def test_discovery_never_makes_a_colleagues_mailbox_the_subjects(
    systems: Systems, connectors: tuple[HostingConnector, NewsletterConnector]
) -> None:
    hosting, newsletter = connectors
    company = _companies()[0]
    colleague = _colleague_address(company)
    subject = await _discovered(company, hosting, newsletter)
    assert colleague.lower() not in subject.values(IdentifierType.EMAIL)


async def test_the_contact_persons_objection_leaves_a_colleague_subscribed(
    systems: Systems, connectors: tuple[HostingConnector, NewsletterConnector]
) -> None:
    hosting, newsletter = connectors
    company = _companies()[1]
    colleague = await _subscribe(systems, _colleague_address(company), "Erik Berg")
    subject = await _discovered(company, hosting, newsletter)
    await newsletter.unsubscribe(subject)
    document = (await _subscriber(systems, colleague)).json()["data"]
    assert [entry["subscription_status"] for entry in document["lists"]] == ["confirmed"]


async def test_the_contact_persons_erasure_leaves_a_colleagues_subscriber(
    systems: Systems, connectors: tuple[HostingConnector, NewsletterConnector]
) -> None:
    hosting, newsletter = connectors
    company = _companies()[2]
    colleague = await _subscribe(systems, _colleague_address(company), "Eva Holm")
    subject = await _discovered(company, hosting, newsletter)
    located = await newsletter.locate(subject)
    plan = plan_request(
        load_policy(None), RequestKind.ERASURE, {"newsletter": located}, REFERENCE_DATE
    ).for_system("newsletter")
    await newsletter.erase(subject, plan)
    assert (await _subscriber(systems, colleague)).status_code == 200
