"""A deterministic generator of realistic, fictitious Swedish customers.

`generate_customers(count, seed)` yields customers one by one (it scales to millions without
holding them in memory); `customer_at(index, seed)` returns one of them directly. The same seed
always gives the same rows, and a shorter run is a prefix of a longer one.

Customers are generated in blocks of `BLOCK_SIZE` from one `random.Random` per block, so any block
can be produced on its own. Identity numbers and phone numbers come from a seeded permutation of
the row index, so they are unique by construction (no two different people share one), and every
e-mail address carries the row's number so that no two rows share one by accident. The cases a
DSR orchestrator must get right are placed deliberately, at fixed slots of every block:

- slot 0:       a plain, active private person
- slot 1:       an active company (with a contact person)
- slots 10, 11: the same person under two e-mail addresses (same personnummer, two customer rows;
                the first account is often an old, closed one)
- slots 30, 31: two people sharing one e-mail address (a family address: different personnummer)
- slot 40:      a former customer anonymised earlier (the billing sandbox keeps only invoices)
- slot 41:      a former customer whose account is closed but not yet anonymised

Every other slot is random: about 15 % companies, 10 % closed, 3 % anonymised.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import accumulate
from typing import Literal

from sandbox._swedish import (
    COMPANY_FORMS,
    COMPANY_TRADES,
    COMPANY_WORDS,
    EMAIL_PROVIDERS,
    FEMALE_FIRST_NAMES,
    LAST_NAMES,
    MALE_FIRST_NAMES,
    STREETS,
    TOWNS,
)
from schemas.identifiers import luhn_check_digit

__all__ = [
    "BLOCK_SIZE",
    "FIRST_CUSTOMER_NUMBER",
    "REFERENCE_DATE",
    "Customer",
    "CustomerKind",
    "CustomerStatus",
    "Special",
    "ascii_fold",
    "customer_at",
    "customer_number",
    "generate_customers",
]

CustomerKind = Literal["person", "company"]
CustomerStatus = Literal["active", "closed", "anonymised"]
Special = Literal["two_emails", "shared_email"]

BLOCK_SIZE = 50
FIRST_CUSTOMER_NUMBER = 100001
# The sandbox's "today": customers, invoices and logins are generated up to this date, so the
# data does not depend on the day it is generated.
REFERENCE_DATE = date(2026, 11, 1)
FIRST_CUSTOMER_DATE = date(2017, 1, 2)

_SLOT_PLAIN_PERSON = 0
_SLOT_COMPANY = 1
_SLOTS_TWO_EMAILS = (10, 11)
_SLOTS_SHARED_EMAIL = (30, 31)
_SLOT_ANONYMISED = 40
_SLOT_CLOSED = 41

_BIRTH_FIRST = date(1940, 1, 1)
_BIRTH_DAYS = (date(2006, 12, 31) - _BIRTH_FIRST).days + 1
_PNR_SPACE = _BIRTH_DAYS * 1000  # birth day x three-digit serial number
_ORG_SPACE = 8 * 10**6  # third digit 2..9 x six digits
_PHONE_PREFIXES = ("70", "72", "73", "76", "79")
_PHONE_SPACE = len(_PHONE_PREFIXES) * 10**7
# A prime larger than every space above: multiplying by it modulo the space is a bijection.
_MULTIPLIER = 2_654_435_761

_ORG_PREFIX = {"AB": "55", "HB": "96", "KB": "96", "Ekonomisk förening": "76"}
_PROVIDERS = tuple(p for p, _ in EMAIL_PROVIDERS)
_PROVIDER_WEIGHTS = tuple(accumulate(w for _, w in EMAIL_PROVIDERS))


@dataclass(frozen=True, slots=True)
class Customer:
    """One customer row as the company's systems know it (all of it fictitious)."""

    index: int
    customer_number: str
    kind: CustomerKind
    name: str  # a private person's full name, or the company's name
    contact_name: str | None  # companies: the contact person
    first_name: str  # of the person, or of the company's contact person
    last_name: str
    email: str
    phone: str  # E.164
    personal_identity_number: str | None  # private persons: 12 digits YYYYMMDDNNNC
    organisation_number: str | None  # companies: NNNNNN-NNNN
    birth_date: date  # of the person, or of the contact person
    street: str
    postcode: str  # "NNN NN"
    city: str
    domains: tuple[str, ...]
    status: CustomerStatus
    created_at: datetime
    closed_at: datetime | None
    anonymised_at: datetime | None
    special: Special | None = None
    partner_index: int | None = None  # the other row of a special pair

    @property
    def address(self) -> str:
        return f"{self.street}, {self.postcode} {self.city}"

    @property
    def identity(self) -> str:
        """The legal identity behind the row: personnummer or organisationsnummer."""
        return self.personal_identity_number or self.organisation_number or self.customer_number

    def __repr__(self) -> str:  # never print fictitious-but-realistic personal data in logs
        return f"Customer({self.customer_number}, {self.kind}, {self.status})"


def customer_number(index: int) -> str:
    """The customer number of row `index`: K100001, K100002, ..."""
    return f"K{FIRST_CUSTOMER_NUMBER + index}"


# Names, towns and company words come from short lists, so the same few thousand strings are
# folded over and over (a fifth of a million customers' generation time): remember them.
@lru_cache(maxsize=1 << 16)
def ascii_fold(text: str) -> str:
    """Lower-case ASCII for e-mail addresses and domains: 'Åsa Öberg' -> 'asa oberg'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


@lru_cache(maxsize=1 << 16)
def _slug(text: str) -> str:
    return "".join(c for c in ascii_fold(text) if c.isascii() and c.isalnum())


def generate_customers(count: int, seed: int) -> Iterator[Customer]:
    """Yield `count` customers, deterministically for `seed`, block by block."""
    if count < 0:
        raise ValueError("count must not be negative")
    block = 0
    while block * BLOCK_SIZE < count:
        for customer in _block(seed, block):
            if customer.index >= count:
                return
            yield customer
        block += 1


def customer_at(index: int, seed: int) -> Customer:
    """Row `index` (0-based) of `generate_customers(n, seed)` for any n > index."""
    if index < 0:
        raise ValueError("index must not be negative")
    return _block(seed, index // BLOCK_SIZE)[index % BLOCK_SIZE]


# --- identity numbers ---------------------------------------------------------------------


@lru_cache(maxsize=64)
def _offset(seed: int, salt: str, space: int) -> int:
    return random.Random(f"sandbox-people:{salt}:{seed}").randrange(space)


def _permute(index: int, seed: int, salt: str, space: int) -> int:
    if index >= space:
        raise ValueError("the sandbox generates at most a few million customers")
    return (index * _MULTIPLIER + _offset(seed, salt, space)) % space


def _personal_identity(identity_index: int, seed: int) -> tuple[str, date, bool]:
    """A unique personnummer for the identity, its birth date, and whether it is a man's."""
    value = _permute(identity_index, seed, "pnr", _PNR_SPACE)
    birth = _BIRTH_FIRST + timedelta(days=value // 1000)
    serial = value % 1000
    month_day = f"{birth.month:02d}{birth.day:02d}"  # strftime's %m%d, without its cost
    nine = f"{birth.year % 100:02d}{month_day}{serial:03d}"
    pnr = f"{birth.year}{month_day}{serial:03d}{luhn_check_digit(nine)}"
    return pnr, birth, serial % 2 == 1  # the second-last digit is odd for men


def _organisation_number(index: int, seed: int, form: str) -> str:
    value = _permute(index, seed, "orgnr", _ORG_SPACE)
    nine = f"{_ORG_PREFIX[form]}{2 + value // 10**6}{value % 10**6:06d}"
    digits = f"{nine}{luhn_check_digit(nine)}"
    return f"{digits[:6]}-{digits[6:]}"


def _phone(identity_index: int, seed: int) -> str:
    value = _permute(identity_index, seed, "phone", _PHONE_SPACE)
    return f"+46{_PHONE_PREFIXES[value // 10**7]}{value % 10**7:07d}"


# --- one block ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Person:
    first: str
    last: str
    pnr: str
    birth: date
    phone: str

    @property
    def full_name(self) -> str:
        return f"{self.first} {self.last}"


@lru_cache(maxsize=16)
def _block(seed: int, block: int) -> tuple[Customer, ...]:
    rng = random.Random(f"sandbox-people:block:{seed}:{block}")
    start = block * BLOCK_SIZE
    rows: list[Customer] = []
    slot = 0
    while slot < BLOCK_SIZE:
        index = start + slot
        if slot == _SLOTS_TWO_EMAILS[0]:
            rows.extend(_two_email_pair(rng, seed, index))
            slot += 2
            continue
        if slot == _SLOTS_SHARED_EMAIL[0]:
            rows.extend(_shared_email_pair(rng, seed, index))
            slot += 2
            continue
        if slot == _SLOT_PLAIN_PERSON:
            kind: CustomerKind = "person"
            status: CustomerStatus = "active"
        elif slot == _SLOT_COMPANY:
            kind, status = "company", "active"
        elif slot == _SLOT_ANONYMISED:
            kind, status = "person", "anonymised"
        elif slot == _SLOT_CLOSED:
            kind, status = "person", "closed"
        else:
            kind = "company" if rng.random() < 0.15 else "person"
            roll = rng.random()
            status = "closed" if roll < 0.10 else "anonymised" if roll < 0.13 else "active"
        rows.append(_single(rng, seed, index, kind, status))
        slot += 1
    return tuple(rows)


def _person(rng: random.Random, seed: int, identity_index: int, last: str | None = None) -> _Person:
    pnr, birth, male = _personal_identity(identity_index, seed)
    first = rng.choice(MALE_FIRST_NAMES if male else FEMALE_FIRST_NAMES)
    if rng.random() < 0.08:  # a second given name now and then
        first = f"{first} {rng.choice(MALE_FIRST_NAMES if male else FEMALE_FIRST_NAMES)}"
    if last is None:
        last = rng.choice(LAST_NAMES)
        if rng.random() < 0.04:
            last = f"{last}-{rng.choice(LAST_NAMES)}"
    return _Person(first, last, pnr, birth, _phone(identity_index, seed))


def _address(rng: random.Random) -> tuple[str, str, str]:
    city, areas = rng.choice(TOWNS)
    number = f"{rng.randint(1, 150)}{rng.choice('ABC') if rng.random() < 0.1 else ''}"
    return f"{rng.choice(STREETS)} {number}", f"{rng.choice(areas)} {rng.randint(0, 99):02d}", city


def _private_email(rng: random.Random, person: _Person, number: int) -> str:
    first = _slug(person.first.split()[0])
    last = _slug(person.last)
    local = rng.choice(
        (
            f"{first}.{last}{number}",
            f"{first}{last}{number}",
            f"{first[0]}.{last}{number}",
            f"{first}_{last}{number}",
            f"{last}.{first}{number}",
        )
    )
    provider = rng.choices(_PROVIDERS, cum_weights=_PROVIDER_WEIGHTS)[0]
    return f"{local}@{provider}"


def _private_domains(rng: random.Random, person: _Person, number: int) -> tuple[str, ...]:
    if rng.random() >= 0.35:
        return ()
    base = f"{_slug(person.first.split()[0])}{_slug(person.last)}{number}"
    tlds = rng.sample(("se", "nu", "com"), k=rng.choice((1, 1, 1, 2)))
    return tuple(f"{base}.{tld}" for tld in tlds)


def _lifecycle(
    rng: random.Random, status: CustomerStatus
) -> tuple[datetime, datetime | None, datetime | None]:
    """created_at, closed_at, anonymised_at for a customer with `status`."""
    latest = REFERENCE_DATE - timedelta(days=14)
    if status == "anonymised":  # closed long ago, erased on request a while later
        created = _random_day(rng, FIRST_CUSTOMER_DATE, date(2020, 6, 30))
        closed = _random_day(rng, created + timedelta(days=180), date(2022, 12, 31))
        anonymised = _random_day(rng, closed + timedelta(days=30), latest)
        return _at(rng, created), _at(rng, closed), _at(rng, anonymised)
    if status == "closed":
        created = _random_day(rng, FIRST_CUSTOMER_DATE, latest - timedelta(days=400))
        closed = _random_day(rng, created + timedelta(days=365), latest)
        return _at(rng, created), _at(rng, closed), None
    return _at(rng, _random_day(rng, FIRST_CUSTOMER_DATE, latest)), None, None


def _random_day(rng: random.Random, first: date, last: date) -> date:
    if last <= first:
        return first
    return first + timedelta(days=rng.randint(0, (last - first).days))


def _at(rng: random.Random, day: date) -> datetime:
    moment = time(rng.randint(7, 22), rng.randint(0, 59), rng.randint(0, 59))
    return datetime.combine(day, moment, tzinfo=UTC)


def _single(
    rng: random.Random, seed: int, index: int, kind: CustomerKind, status: CustomerStatus
) -> Customer:
    person = _person(rng, seed, index)
    street, postcode, city = _address(rng)
    created, closed, anonymised = _lifecycle(rng, status)
    number = index + 1
    if kind == "person":
        return Customer(
            index=index,
            customer_number=customer_number(index),
            kind="person",
            name=person.full_name,
            contact_name=None,
            first_name=person.first,
            last_name=person.last,
            email=_private_email(rng, person, number),
            phone=person.phone,
            personal_identity_number=person.pnr,
            organisation_number=None,
            birth_date=person.birth,
            street=street,
            postcode=postcode,
            city=city,
            domains=_private_domains(rng, person, number),
            status=status,
            created_at=created,
            closed_at=closed,
            anonymised_at=anonymised,
        )
    form = rng.choice(COMPANY_FORMS)
    trade = rng.choice(COMPANY_TRADES)
    style = rng.random()
    if style < 0.4:
        short = f"{rng.choice(LAST_NAMES)} {trade}"
    elif style < 0.75:
        short = f"{rng.choice(COMPANY_WORDS)} {trade}"
    else:
        short = f"{city} {trade}"
    domain = f"{_slug(short)}{number}.se"
    domains = (domain, f"{_slug(short)}{number}.com") if rng.random() < 0.3 else (domain,)
    return Customer(
        index=index,
        customer_number=customer_number(index),
        kind="company",
        name=f"{short} {form}",
        contact_name=person.full_name,
        first_name=person.first,
        last_name=person.last,
        email=f"{_slug(person.first.split()[0])}.{_slug(person.last)}@{domain}",
        phone=person.phone,
        personal_identity_number=None,
        organisation_number=_organisation_number(index, seed, form),
        birth_date=person.birth,
        street=street,
        postcode=postcode,
        city=city,
        domains=domains,
        status=status,
        created_at=created,
        closed_at=closed,
        anonymised_at=anonymised,
    )


def _two_email_pair(rng: random.Random, seed: int, index: int) -> tuple[Customer, Customer]:
    """One person, two customer rows: an older account (often closed) and a newer one."""
    person = _person(rng, seed, index)
    first_status: CustomerStatus = "closed" if rng.random() < 0.5 else "active"
    created_a, closed_a, _ = _lifecycle(rng, first_status)
    created_b = _at(rng, _random_day(rng, created_a.date(), REFERENCE_DATE - timedelta(days=14)))
    street_a, postcode_a, city_a = _address(rng)
    street_b, postcode_b, city_b = (
        _address(rng) if rng.random() < 0.5 else (street_a, postcode_a, city_a)
    )
    statuses: tuple[CustomerStatus, CustomerStatus] = (first_status, "active")
    createds = (created_a, created_b)
    closeds = (closed_a, None)
    addresses = ((street_a, postcode_a, city_a), (street_b, postcode_b, city_b))
    rows = []
    for offset in (0, 1):
        row_index = index + offset
        rows.append(
            Customer(
                index=row_index,
                customer_number=customer_number(row_index),
                kind="person",
                name=person.full_name,
                contact_name=None,
                first_name=person.first,
                last_name=person.last,
                email=_private_email(rng, person, row_index + 1),
                phone=person.phone,
                personal_identity_number=person.pnr,
                organisation_number=None,
                birth_date=person.birth,
                street=addresses[offset][0],
                postcode=addresses[offset][1],
                city=addresses[offset][2],
                domains=_private_domains(rng, person, row_index + 1),
                status=statuses[offset],
                created_at=createds[offset],
                closed_at=closeds[offset],
                anonymised_at=None,
                special="two_emails",
                partner_index=index + 1 - offset,
            )
        )
    return rows[0], rows[1]


def _shared_email_pair(rng: random.Random, seed: int, index: int) -> tuple[Customer, Customer]:
    """Two people (a household) with one shared e-mail address and one address."""
    first = _person(rng, seed, index)
    second = _person(rng, seed, index + 1, last=first.last)
    street, postcode, city = _address(rng)
    provider = rng.choices(_PROVIDERS, cum_weights=_PROVIDER_WEIGHTS)[0]
    local = rng.choice((f"familjen.{_slug(first.last)}", f"{_slug(first.last)}s", "hemma."))
    if local == "hemma.":
        local = f"hemma.{_slug(first.last)}"
    email = f"{local}{index + 1}@{provider}"
    rows = []
    for offset, person in enumerate((first, second)):
        row_index = index + offset
        created, _, _ = _lifecycle(rng, "active")
        rows.append(
            Customer(
                index=row_index,
                customer_number=customer_number(row_index),
                kind="person",
                name=person.full_name,
                contact_name=None,
                first_name=person.first,
                last_name=person.last,
                email=email,
                phone=person.phone,
                personal_identity_number=person.pnr,
                organisation_number=None,
                birth_date=person.birth,
                street=street,
                postcode=postcode,
                city=city,
                domains=_private_domains(rng, person, row_index + 1),
                status="active",
                created_at=created,
                closed_at=None,
                anonymised_at=None,
                special="shared_email",
                partner_index=index + 1 - offset,
            )
        )
    return rows[0], rows[1]
