"""What the workflow knows of a connector: its name, task queue and operations.

Here, not in `connectors.base`, so workflow code imports only `schemas` and `policy` (never the
connector kit with its HTTP and SQL clients); `connectors.base` re-exports both names.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from schemas.identifiers import IdentifierType

__all__ = ["ConnectorInfo", "Operation"]


class Operation(StrEnum):
    LOCATE = "locate"
    EXPORT = "export"
    ERASE = "erase"
    RECTIFY = "rectify"
    RESTRICT = "restrict"
    LIFT_RESTRICTION = "lift_restriction"
    UNSUBSCRIBE = "unsubscribe"


class ConnectorInfo(BaseModel):
    """What the workflow needs to know about a connector: its name, queue and abilities."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    task_queue: str
    search_identifiers: list[IdentifierType]
    operations: list[Operation]
