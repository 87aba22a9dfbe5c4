"""The people generator: deterministic, valid Swedish identifiers, and the cases that matter."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import date
from itertools import islice

import pytest
from pydantic import EmailStr, TypeAdapter

from sandbox.people import (
    BLOCK_SIZE,
    REFERENCE_DATE,
    Customer,
    ascii_fold,
    customer_at,
    generate_customers,
)
from schemas.events import Domain
from schemas.identifiers import (
    E164_PATTERN,
    is_valid_organisation_number,
    is_valid_personal_identity_number,
)

SEED = 3
COUNT = 1000


@pytest.fixture(scope="module")
def rows() -> list[Customer]:
    return list(generate_customers(COUNT, SEED))


def test_same_seed_same_rows(rows: list[Customer]) -> None:
    assert list(generate_customers(COUNT, SEED)) == rows
    assert list(generate_customers(COUNT, SEED + 1)) != rows


def test_a_shorter_run_is_a_prefix_and_any_row_can_be_fetched(rows: list[Customer]) -> None:
    assert list(generate_customers(123, SEED)) == rows[:123]
    for index in (0, 1, 49, 50, 511, COUNT - 1):
        assert customer_at(index, SEED) == rows[index]
    assert [c.index for c in rows] == list(range(COUNT))
    assert rows[0].customer_number == "K100001"
    assert rows[-1].customer_number == f"K{100000 + COUNT}"


def test_generator_is_lazy_at_a_million_customers() -> None:
    started = time.perf_counter()
    first = list(islice(generate_customers(1_000_000, SEED), 5))
    last = customer_at(999_999, SEED)
    assert time.perf_counter() - started < 1.0
    assert len(first) == 5
    assert last.customer_number == "K1100000"
    assert is_valid_personal_identity_number(last.personal_identity_number or "") or (
        last.organisation_number is not None
        and is_valid_organisation_number(last.organisation_number)
    )


def test_identity_numbers_are_valid(rows: list[Customer]) -> None:
    for customer in rows:
        if customer.kind == "person":
            assert customer.personal_identity_number is not None
            assert is_valid_personal_identity_number(customer.personal_identity_number)
            assert customer.organisation_number is None
            born = date(
                int(customer.personal_identity_number[:4]),
                int(customer.personal_identity_number[4:6]),
                int(customer.personal_identity_number[6:8]),
            )
            assert born == customer.birth_date
        else:
            assert customer.organisation_number is not None
            assert is_valid_organisation_number(customer.organisation_number)
            assert int(customer.organisation_number[2]) >= 2
            assert customer.personal_identity_number is None


def test_contact_details_are_well_formed(rows: list[Customer]) -> None:
    email = TypeAdapter(EmailStr)
    domain = TypeAdapter(Domain)
    for customer in rows:
        assert re.fullmatch(E164_PATTERN, customer.phone)
        assert customer.phone.startswith("+467")
        assert re.fullmatch(r"[1-9][0-9]{2} [0-9]{2}", customer.postcode)
        assert customer.email == customer.email.lower()
        assert customer.email.isascii()
        email.validate_python(customer.email)
        for name in customer.domains:
            assert domain.validate_python(name) == name
            assert name.rsplit(".", 1)[1] in {"se", "nu", "com"}
        assert customer.created_at.date() <= REFERENCE_DATE
        if customer.status == "active":
            assert customer.closed_at is None
        else:
            assert customer.closed_at is not None
            assert customer.created_at < customer.closed_at
        if customer.status == "anonymised":
            assert customer.anonymised_at is not None
            assert customer.closed_at is not None
            assert customer.closed_at < customer.anonymised_at


def test_data_looks_swedish(rows: list[Customer]) -> None:
    text = " ".join(f"{c.name} {c.street} {c.city}" for c in rows)
    assert set("åäöÅÄÖ") & set(text)
    providers = Counter(c.email.split("@")[1] for c in rows if c.kind == "person")
    assert {"gmail.com", "telia.com", "outlook.com", "bredband.net"} <= set(providers)
    companies = [c for c in rows if c.kind == "company"]
    assert companies
    for company in companies:
        assert company.contact_name
        assert company.email.split("@")[1] in company.domains  # the company's own domain
    assert ascii_fold("Åsa Öberg-Ängström") == "asa oberg-angstrom"


def test_identifiers_are_unique_except_where_meant(rows: list[Customer]) -> None:
    people: dict[str, set[str]] = {}
    for customer in rows:
        people.setdefault(customer.identity, set()).add(customer.customer_number)
    shared_identity = {k: v for k, v in people.items() if len(v) > 1}
    pairs = [c for c in rows if c.special == "two_emails"]
    assert len(shared_identity) == len(pairs) // 2  # only the two-e-mail pairs share one
    emails = Counter(c.email for c in rows)
    shared = {e for e, n in emails.items() if n > 1}
    assert shared == {c.email for c in rows if c.special == "shared_email"}
    assert all(n == 2 for e, n in emails.items() if e in shared)
    phones = Counter(c.phone for c in rows)
    assert all(n == 1 or n == 2 for n in phones.values())


def test_special_cases_exist_in_every_block(rows: list[Customer]) -> None:
    for start in range(0, COUNT, BLOCK_SIZE):
        block = rows[start : start + BLOCK_SIZE]
        two = [c for c in block if c.special == "two_emails"]
        assert len(two) == 2
        a, b = two
        assert a.personal_identity_number == b.personal_identity_number
        assert a.email != b.email
        assert a.name == b.name
        assert b.status == "active"
        assert (a.partner_index, b.partner_index) == (b.index, a.index)

        shared = [c for c in block if c.special == "shared_email"]
        assert len(shared) == 2
        x, y = shared
        assert x.email == y.email
        assert x.personal_identity_number != y.personal_identity_number
        assert x.last_name == y.last_name
        assert x.first_name != y.first_name or x.birth_date != y.birth_date

        statuses = Counter(c.status for c in block)
        assert statuses["anonymised"] >= 1
        assert statuses["closed"] >= 1
        assert any(c.kind == "company" and c.status == "active" for c in block)
        assert block[0].kind == "person"
        assert block[0].status == "active"
        assert block[0].special is None


def test_mix_of_customers(rows: list[Customer]) -> None:
    kinds = Counter(c.kind for c in rows)
    assert 0.1 < kinds["company"] / COUNT < 0.3
    statuses = Counter(c.status for c in rows)
    assert 0.05 < statuses["closed"] / COUNT < 0.25
    years = {c.created_at.year for c in rows}
    assert min(years) == 2017
    assert max(years) == REFERENCE_DATE.year


def test_repr_holds_no_personal_data(rows: list[Customer]) -> None:
    customer = rows[0]
    assert customer.email not in repr(customer)
    assert customer.name not in repr(customer)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="negative"):
        list(generate_customers(-1, SEED))
    with pytest.raises(ValueError, match="negative"):
        customer_at(-1, SEED)
