"""The contract suite as one line, meltano-SDK style:

    Test${Name}Connector = connector_contract(${Name}Connector)

Why: a generated test that starts its own sandbox has to import the dev stack (`devstack`, to
serve it) and `sandbox` (to seed it), which is the wrong way round: connectors sit below both.
So the running system comes from a pytest fixture *by name*, `running_system`, which the
project's own test configuration provides (tests/connectors/conftest.py starts the sandbox of
`cls.system`; another deployment can point it at a staging copy). It hands over a
`RunningSystem`: the settings that reach the system and the seeded subjects to test with.

The connector is made by its own `from_settings()` from those settings, under the connector's
prefix (`DSR_<NAME>_BASE_URL`, `_API_TOKEN`, ...), with the test's short timeouts and quick
retries (`connectors.base.http.HttpSettings`' names), so the settings code is tested too. An
unreachable connector is the same with `BASE_URL` pointed at a dead address; a bad-credentials
one with `API_TOKEN` replaced (no such case when the system has no `API_TOKEN`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest

from connectors.base import Connector
from connectors.testing._support import KnownSubject, dead_tcp_address
from connectors.testing.contract import ConnectorContract
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef

__all__ = ["FAST_SETTINGS", "RunningSystem", "connector_contract"]

# Short timeouts and one quick retry, so the failure tests stay fast.
FAST_SETTINGS: Mapping[str, str] = {
    "TIMEOUT": "5",
    "CONNECT_TIMEOUT": "2",
    "RETRY_ATTEMPTS": "2",
    "RETRY_WAIT_INITIAL": "0.01",
    "RETRY_WAIT_JITTER": "0.01",
}


@dataclass
class RunningSystem:
    """A running copy of one system, as the `running_system` fixture hands it over.

    `settings`: what the connector needs to reach it, by setting name without the prefix
    (`{"BASE_URL": ..., "API_TOKEN": ...}`). `subjects`: a different seeded subject each time
    (the tests erase and rectify them). `ambiguous`: a subject whose identifier leads to two
    people, or None if the system cannot hold one.
    """

    name: str
    settings: Mapping[str, str]
    subjects: Iterator[KnownSubject]
    ambiguous: SubjectRef | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _environment(prefix: str, settings: Mapping[str, str]) -> Iterator[None]:
    """The connector's settings in the environment while `from_settings()` reads them."""
    names = [f"{prefix}{key}" for key in settings]
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({f"{prefix}{key}": value for key, value in settings.items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def connector_contract(
    connector_class: type[Connector],
    *,
    registered: bool = True,
    sandbox_options: Mapping[str, str] | None = None,
) -> type[ConnectorContract]:
    """The contract test class for `connector_class`, against the `running_system` fixture.

    `registered=False` until the entry point is in pyproject.toml. `sandbox_options` are
    passed to the system's sandbox by the fixture (e.g. `{"rate_limit": "0"}`).
    """
    prefix = f"DSR_{connector_class.name.upper()}_"
    options = dict(sandbox_options or {})

    def made(settings: Mapping[str, str]) -> Connector:
        with _environment(prefix, {**FAST_SETTINGS, **settings}):
            return connector_class.from_settings()

    class Contract(ConnectorContract):
        system: ClassVar[str] = connector_class.name
        sandbox_options: ClassVar[Mapping[str, str]] = dict(options)

        @pytest.fixture
        async def connector(self, running_system: RunningSystem) -> AsyncIterator[Connector]:
            connector = made(running_system.settings)
            yield connector
            await connector.aclose()

        @pytest.fixture
        def known_subject(self, running_system: RunningSystem) -> KnownSubject:
            return next(running_system.subjects)

        @pytest.fixture
        def unknown_subject(self) -> SubjectRef:
            nobody = f"nobody.{uuid.uuid4().hex[:10]}@example.invalid"
            return SubjectRef(
                identifiers=(
                    Identifier(type=IdentifierType.EMAIL, value=nobody),
                    Identifier(type=IdentifierType.CUSTOMER_NUMBER, value="K999999999"),
                ),
                name="Ingen Alls",
            )

        @pytest.fixture
        def ambiguous_subject(self, running_system: RunningSystem) -> SubjectRef | None:
            return running_system.ambiguous

        @pytest.fixture
        async def unreachable_connector(
            self, running_system: RunningSystem
        ) -> AsyncIterator[Connector]:
            host, port = dead_tcp_address()  # nothing listens there: connections are refused
            settings = {**running_system.settings, "BASE_URL": f"http://{host}:{port}"}
            connector = made(settings)
            yield connector
            await connector.aclose()

        @pytest.fixture
        async def bad_credentials_connector(
            self, running_system: RunningSystem
        ) -> AsyncIterator[Connector | None]:
            if "API_TOKEN" not in running_system.settings:
                yield None
                return
            connector = made({**running_system.settings, "API_TOKEN": "not-the-token"})
            yield connector
            await connector.aclose()

    Contract.registered = registered
    Contract.__name__ = Contract.__qualname__ = f"Test{connector_class.__name__}"
    return Contract
