"""`running_system`: the real sandbox of a contract test class's system, seeded and served.

The one-line contract tests (`connector_contract(...)`, what `dsr connector new` generates) get
their system from here by fixture name, so neither connectors nor their generated tests import
the dev stack or the sandbox (both sit above connectors). Conventions, the ones the connector
guide asks of a sandbox (docs/connectors.md): `sandbox/<name>/seed.py` has
`seed_<name>(database_url, customers, seed)` and `seeded_<name>(index, seed)` whose `.counts`
are one customer's expected counts; `sandbox.presence` says who the system holds; the app
checks the `api_token` option. A system without a sandbox yet is skipped, saying what to build.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.testing import KnownSubject, RunningSystem
from devstack.localstack import free_port, sandbox_server
from sandbox.people import Customer, generate_customers
from sandbox.presence import Presence, presence
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef

SEED = 7
CUSTOMERS = 200  # every special case of sandbox.people, and still a fast suite
API_TOKEN = "contract-test-token"


def _by_email(customer: Customer) -> SubjectRef:
    email = Identifier(type=IdentifierType.EMAIL, value=customer.email)
    return SubjectRef(identifiers=(email,), name=customer.name)


def _holds(system: str) -> Callable[[Customer], bool]:
    fields = {f.name for f in dataclasses.fields(Presence)}
    if system not in fields:  # sandbox.presence does not know the system yet: everyone
        return lambda customer: True
    return lambda customer: bool(getattr(presence(customer, SEED), system))


def _seeder(system: str) -> Any:
    try:
        return importlib.import_module(f"sandbox.{system}.seed")
    except ModuleNotFoundError:
        pytest.skip(f"no sandbox for {system!r} yet: build sandbox/{system}/ (docs/connectors.md)")


@pytest.fixture(scope="class")
def running_system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    system: str = request.cls.system  # set by connector_contract
    options: dict[str, str] = dict(getattr(request.cls, "sandbox_options", {}))
    seeder = _seeder(system)
    root = tmp_path_factory.mktemp(f"{system}-system")
    database_url = f"sqlite+aiosqlite:///{root / 'sandbox.db'}"
    asyncio.run(getattr(seeder, f"seed_{system}")(database_url, CUSTOMERS, SEED))
    seeded = getattr(seeder, f"seeded_{system}", None)
    holds = _holds(system)
    customers = list(generate_customers(CUSTOMERS, SEED))

    def counts(customer: Customer) -> dict[str, int]:
        return dict(getattr(seeded(customer.index, SEED), "counts", {})) if seeded else {}

    plain = (
        c
        for c in customers
        if c.kind == "person" and c.status == "active" and c.special is None and holds(c)
    )
    # Two people behind one family e-mail address; asking by it with the second one's name is
    # ambiguous whether the system holds both (two records) or only the first (another name).
    pair = [c for c in customers if c.special == "shared_email"][:2]
    ambiguous = None
    if len(pair) == 2 and holds(pair[0]):
        ambiguous = SubjectRef(
            identifiers=(Identifier(type=IdentifierType.EMAIL, value=pair[0].email),),
            name=pair[1].name,
        )
    port = free_port()
    server = sandbox_server(
        system, port, database_url, root / "logs", {"api_token": API_TOKEN, **options}
    )
    try:
        yield RunningSystem(
            name=system,
            settings={"BASE_URL": f"http://127.0.0.1:{port}", "API_TOKEN": API_TOKEN},
            subjects=(KnownSubject(_by_email(c), counts(c)) for c in plain),
            ambiguous=ambiguous,
        )
    finally:
        server.stop()
