"""Connector discovery through the entry-point group `dsr.connectors`.

An engineer adds a connector by adding one entry point; nothing in the orchestrator changes.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from connectors.base._errors import ConfigurationError
from connectors.base._protocol import Connector
from schemas.connectors import ConnectorInfo

__all__ = ["ENTRY_POINT_GROUP", "ConnectorInfo", "connector_classes", "describe", "task_queue_for"]

ENTRY_POINT_GROUP = "dsr.connectors"


def task_queue_for(name: str, prefix: str = "dsr-connector-") -> str:
    return f"{prefix}{name}"


def connector_classes(only: list[str] | None = None) -> dict[str, type[Connector]]:
    """All registered connector classes by name (optionally only those named)."""
    found: dict[str, type[Connector]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if only is not None and ep.name not in only:
            continue
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise ConfigurationError(f"entry point {ep.name!r} is not a Connector subclass")
        if cls.name != ep.name:
            raise ConfigurationError(
                f"entry point {ep.name!r} points at connector named {cls.name!r}"
            )
        found[ep.name] = cls
    if only is not None and (missing := sorted(set(only) - set(found))):
        raise ConfigurationError(f"no connector registered as {', '.join(missing)}")
    return dict(sorted(found.items()))


def describe(cls: type[Connector], prefix: str = "dsr-connector-") -> ConnectorInfo:
    return ConnectorInfo(
        name=cls.name,
        task_queue=task_queue_for(cls.name, prefix),
        search_identifiers=sorted(cls.search_identifiers),
        operations=sorted(cls.operations),
    )
