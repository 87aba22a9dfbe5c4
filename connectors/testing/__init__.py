"""Test tooling shipped with the package: the connector contract suite and its helpers.

    from connectors.testing import ConnectorContract, KnownSubject, RecordingSink

`connector_contract(ConnectorClass)` is the suite as one line, against the `running_system`
fixture the project's tests provide (see `_factory`). `ConnectorContract` and it need pytest (a
development dependency) and are imported on first use, so `RecordingSink` and the other helpers
can be imported where pytest is not installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connectors.testing._sink import RecordingSink
from connectors.testing._support import (
    KnownSubject,
    dead_tcp_address,
    discover,
    exception_text,
    leaked_values,
    personal_values,
)

if TYPE_CHECKING:
    from connectors.testing._factory import FAST_SETTINGS, RunningSystem, connector_contract
    from connectors.testing.contract import ConnectorContract, erase_planned, planned_erasure

__all__ = [
    "FAST_SETTINGS",
    "ConnectorContract",
    "KnownSubject",
    "RecordingSink",
    "RunningSystem",
    "connector_contract",
    "dead_tcp_address",
    "discover",
    "erase_planned",
    "exception_text",
    "leaked_values",
    "personal_values",
    "planned_erasure",
]


def __getattr__(name: str) -> object:
    if name in ("ConnectorContract", "erase_planned", "planned_erasure"):
        from connectors.testing import contract

        return getattr(contract, name)
    if name in ("FAST_SETTINGS", "RunningSystem", "connector_contract"):
        from connectors.testing import _factory

        return getattr(_factory, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
