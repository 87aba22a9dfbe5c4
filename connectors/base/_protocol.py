"""The connector contract: what every per-system connector declares and does.

A connector is one class. It declares its name, the identifiers it can search by, the data
categories it holds (with the retention rule the policy gives each), the operations it supports
and its recipients (Art. 19). Every operation is idempotent and returns a typed result; failures
are typed errors (see `_errors`). Connectors do all I/O; the workflow only passes references.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Protocol, Self

from pydantic import BaseModel, ConfigDict

from connectors.base._errors import UnsupportedOperation
from schemas.connectors import Operation
from schemas.events import FieldChange
from schemas.identifiers import IdentifierType
from schemas.plan import SystemPlan
from schemas.results import (
    EraseResult,
    ExportResult,
    LocateResult,
    RecipientNotification,
    RectifyResult,
    RestrictResult,
    UnsubscribeResult,
)
from schemas.status import RetentionReason
from schemas.subject import SubjectRef

__all__ = ["Connector", "DataCategory", "ExportSink", "Operation", "Recipient", "RetentionRule"]


class RetentionRule(BaseModel):
    """Why a category outlives an erasure request, and how long (None: while the reason lasts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: RetentionReason
    legal_basis: str
    years_after_financial_year: int | None = None
    months: int | None = None


class DataCategory(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    purpose: str
    retention: RetentionRule | None = None


class Recipient(BaseModel):
    """Someone the system discloses data to: told of rectification/erasure under Art. 19."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str


class ExportSink(Protocol):
    """Where a connector streams exported records, one at a time (never all in memory)."""

    async def write(self, category: str, record: dict[str, object]) -> None: ...


class Connector(ABC):
    """Base class of every connector. Subclasses set the ClassVars and implement the operations."""

    name: ClassVar[str]
    search_identifiers: ClassVar[frozenset[IdentifierType]]
    categories: ClassVar[tuple[DataCategory, ...]]
    operations: ClassVar[frozenset[Operation]]
    recipients: ClassVar[tuple[Recipient, ...]] = ()

    @classmethod
    @abstractmethod
    def from_settings(cls) -> Self:
        """Build the connector from its own settings (environment), never from code constants."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook; most connectors hold pools
        """Release connections. Called once when the worker stops."""

    @abstractmethod
    async def locate(self, subject: SubjectRef) -> LocateResult:
        """Counts per category for the subject, plus identifiers learned (e.g. customer number)."""

    async def export(self, subject: SubjectRef, sink: ExportSink) -> ExportResult:
        raise UnsupportedOperation(f"{self.name} does not support export")

    async def erase(self, subject: SubjectRef, plan: SystemPlan) -> EraseResult:
        """Carry out this system's slice of the plan: the `delete` and `anonymise` actions (all
        the subject's records of the category, or exactly `refs` when given); leave `retain`
        ones untouched. The connector decides nothing about retention: the policy's planner did
        (from the facts `locate` reported). A plan whose actions all carry `refs` (a deferred
        erasure years later) must work without matching the subject, whose identifiers may be
        gone by then. Idempotent: records already gone count as done.
        """
        raise UnsupportedOperation(f"{self.name} does not support erase")

    async def rectify(self, subject: SubjectRef, changes: list[FieldChange]) -> RectifyResult:
        raise UnsupportedOperation(f"{self.name} does not support rectify")

    async def restrict(self, subject: SubjectRef) -> RestrictResult:
        raise UnsupportedOperation(f"{self.name} does not support restrict")

    async def lift_restriction(self, subject: SubjectRef) -> RestrictResult:
        raise UnsupportedOperation(f"{self.name} does not support lift_restriction")

    async def unsubscribe(self, subject: SubjectRef) -> UnsubscribeResult:
        """Objection (Art. 21) / consent withdrawal (Art. 7(3)): stop the processing that rests
        on consent or legitimate interest (e.g. the newsletter) without erasing the subject."""
        raise UnsupportedOperation(f"{self.name} does not support unsubscribe")

    async def notify_recipient(
        self, subject: SubjectRef, recipient: str, action: str
    ) -> RecipientNotification | None:
        """Art. 19: tell `recipient` (a name from the policy's recipients of this system) of
        the `action` ("erase", "rectify", "restrict") just carried out for the subject, where
        the connector can reach it (the recipient's API, or a recipient that is itself a system
        this connector writes to). Return the notification with the recipient's own reference,
        or None when this connector cannot tell it: then it is a person's task, recorded with
        what must be done (policy/recipients.py). Idempotent, like every operation: a retried
        call must not open a second ticket. Called by the connector activity for every planned
        recipient the operation's result does not already report (`tell_recipients`)."""
        return None

    @classmethod
    def category(cls, name: str) -> DataCategory:
        for category in cls.categories:
            if category.name == name:
                return category
        raise KeyError(name)
