"""The registrar sandbox seeder: what it writes is what the generator says, every time, and the
lookups a DSR runs are index searches."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite as sqlite_dialect

from sandbox.people import BLOCK_SIZE, generate_customers
from sandbox.presence import EVERYWHERE_SLOTS, presence
from sandbox.registrar import (
    CATEGORIES,
    HOSTMASTER,
    RegistrarSeedSummary,
    registrar_records,
    seed_registrar,
    seeded_registrar,
)
from sandbox.registrar import store as registrar_store
from schemas.identifiers import is_valid_personal_identity_number

SEED = 5
COUNT = 150


def _rows(path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql, params))


async def _seed(path: Path, count: int = COUNT, batch_size: int = 5000) -> RegistrarSeedSummary:
    return await seed_registrar(f"sqlite:///{path}", count, SEED, batch_size=batch_size)


@pytest.fixture(scope="module")
async def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RegistrarSeedSummary]:
    path = tmp_path_factory.mktemp("registrar-seed") / "registrar.db"
    return path, await _seed(path, batch_size=40)  # several batches


async def test_summary_matches_the_database(seeded: tuple[Path, RegistrarSeedSummary]) -> None:
    path, summary = seeded
    assert summary.customers == COUNT
    assert summary.seed == SEED
    assert "aiosqlite" in summary.database
    for table, count in summary.counts.items():
        assert _rows(path, f"SELECT count(*) FROM {table}")[0][0] == count, table  # noqa: S608 - fixed names
    everyone = [registrar_records(c, SEED) for c in generate_customers(COUNT, SEED)]
    assert summary.counts["contacts"] == 1 + sum(len(r.contacts) for r in everyone)  # + hostmaster
    assert summary.counts["domains"] == sum(len(r.domains) for r in everyone)
    assert summary.counts["registry_updates"] == sum(len(r.updates) for r in everyone)


async def test_seeding_again_gives_the_same_database(tmp_path: Path) -> None:
    path = tmp_path / "registrar.db"
    first = await _seed(path)
    before = _rows(path, "SELECT * FROM contacts ORDER BY id")
    second = await _seed(path)  # drop and create
    assert first.model_dump(exclude={"seconds"}) == second.model_dump(exclude={"seconds"})
    assert _rows(path, "SELECT * FROM contacts ORDER BY id") == before


async def test_the_registrar_knows_whom_presence_says(
    seeded: tuple[Path, RegistrarSeedSummary],
) -> None:
    path, _ = seeded
    stored = {row[0] for row in _rows(path, "SELECT customer_number FROM contacts")}
    for customer in generate_customers(COUNT, SEED):
        expected = presence(customer, SEED).registrar and customer.status != "anonymised"
        assert (customer.customer_number in stored) is expected, customer
        if customer.index % BLOCK_SIZE in EVERYWHERE_SLOTS:
            assert customer.customer_number in stored  # the fixed cases are everywhere


async def test_seeded_registrar_matches_the_rows(
    seeded: tuple[Path, RegistrarSeedSummary],
) -> None:
    path, _ = seeded
    for index in (0, 1, 10, 11, 30, 31, 40, 41, 77, COUNT - 1):
        records = seeded_registrar(index, SEED)
        customer = records.customer
        contacts = _rows(
            path,
            "SELECT handle, kind, name, email, personal_identity_number, disclose, registries"
            " FROM contacts WHERE customer_number = ? ORDER BY id",
            customer.customer_number,
        )
        assert [c[0] for c in contacts] == records.handles
        for row, contact in zip(contacts, records.contacts, strict=True):
            assert row[1:] == (
                contact.kind,
                contact.name,
                contact.email,
                contact.personal_identity_number,
                int(contact.disclose),
                " ".join(contact.registries),
            )
        domains = _rows(
            path,
            "SELECT DISTINCT d.name, d.status, d.registry FROM domains d"
            " JOIN domain_contacts r ON r.domain_id = d.id JOIN contacts c ON c.id = r.contact_id"
            " WHERE c.customer_number = ? ORDER BY d.id",
            customer.customer_number,
        )
        assert domains == [(d.name, d.status, d.registry) for d in records.domains]
        if records.handles:
            marks = ",".join("?" * len(records.handles))
            updates = _rows(
                path,
                f"SELECT count(*) FROM registry_updates WHERE handle IN ({marks})",  # noqa: S608 - placeholders only
                *records.handles,
            )
            assert updates[0][0] == records.counts["registry_updates"]
        assert set(records.counts) == set(CATEGORIES)


async def test_registrations_follow_the_registries_rules(
    seeded: tuple[Path, RegistrarSeedSummary],
) -> None:
    path, _ = seeded
    for name, registry in _rows(path, "SELECT name, registry FROM domains"):
        assert registry == ("gtld" if name.endswith(".com") else "se")
    # Persons are redacted unless they opted in; companies are disclosed.
    kinds = _rows(
        path,
        "SELECT kind, sum(disclose), count(*) FROM contacts WHERE kind != 'role' GROUP BY kind",
    )
    disclosed = {kind: (shown, total) for kind, shown, total in kinds}
    assert disclosed["organisation"][0] == disclosed["organisation"][1]
    assert disclosed["person"][0] < disclosed["person"][1] / 3
    # Every domain has a registrant and the registrar's hostmaster as tech contact.
    roles = _rows(
        path,
        "SELECT d.id, sum(r.role = 'registrant'), sum(r.role = 'tech' AND c.handle = ?)"
        " FROM domains d JOIN domain_contacts r ON r.domain_id = d.id"
        " JOIN contacts c ON c.id = r.contact_id GROUP BY d.id",
        HOSTMASTER.handle,
    )
    assert roles
    assert all(registrant == 1 and tech == 1 for _, registrant, tech in roles)
    statuses = {row[0] for row in _rows(path, "SELECT status FROM domains")}
    assert statuses == {"active", "expired", "deleted"}
    # Closed customers hold no active registration.
    for customer in generate_customers(COUNT, SEED):
        if customer.status == "closed":
            assert not seeded_registrar(customer.index, SEED).domains_with("active")


async def test_examples(seeded: tuple[Path, RegistrarSeedSummary]) -> None:
    _, summary = seeded
    examples = summary.examples
    plain = examples.plain_person
    assert plain is not None
    assert plain.customer_numbers == ["K100001"]  # customer index 0: present in all five systems
    assert plain.handles == [seeded_registrar(0, SEED).handles[0]]
    for pnr in plain.personal_identity_numbers:
        assert is_valid_personal_identity_number(pnr)
    company = examples.company_contact
    assert company is not None
    assert company.organisation_numbers
    assert company.expected_counts["contacts"] == len(company.handles)
    pair = examples.two_email_person
    assert pair is not None
    assert len(pair.emails) == 2
    assert len(pair.personal_identity_numbers) == 1
    assert len(pair.handles) == 2
    shared = examples.shared_email_pair
    assert shared is not None
    assert len(shared.emails) == 1
    assert len(shared.personal_identity_numbers) == 2
    holder = examples.active_domain_holder
    assert holder is not None
    assert "active" in holder.domains.values()
    lapsed = examples.lapsed_domains_only
    assert lapsed is not None
    assert lapsed.domains
    assert "active" not in lapsed.domains.values()
    assert set(plain.expected_counts) == set(CATEGORIES)


async def test_progress_is_reported_per_batch(tmp_path: Path) -> None:
    done: list[int] = []
    await seed_registrar(
        f"sqlite:///{tmp_path / 'r.db'}", 120, SEED, batch_size=30, progress=done.append
    )
    assert done == sorted(done)
    assert len(done) > 2
    assert done[-1] == 120


async def test_lookups_are_index_searches(seeded: tuple[Path, RegistrarSeedSummary]) -> None:
    path, _ = seeded
    queries = [
        registrar_store.search_query(field, "x", 0, 100) for field in registrar_store.SEARCH_FIELDS
    ] + [
        registrar_store.contact_ids_query(["ICTW-000002", "ICTW-000003"]),
        registrar_store.domain_ids_query([2, 3], 0, 100),
        registrar_store.domains_by_id_query([1, 2]),
        registrar_store.domains_count_query([2, 3]),
        registrar_store.updates_query(["ICTW-000002", "ICTW-000003"], 0, 100),
        registrar_store.updates_count_query(["ICTW-000002"]),
    ]
    with sqlite3.connect(path) as conn:
        for query in queries:
            compiled = query.compile(
                dialect=sqlite_dialect.dialect(), compile_kwargs={"render_postcompile": True}
            )
            params = [compiled.params[name] for name in compiled.positiontup or []]
            plan = " | ".join(
                row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {compiled}", params)
            )
            assert "SEARCH" in plan, plan
            assert "SCAN" not in plan, plan
