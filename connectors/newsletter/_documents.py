"""listmonk's JSON documents as the connector reads them: only the fields it needs, checked.

A document of the wrong shape is a PermanentError (the base URL points at something that is not
listmonk, or its API changed); pydantic's own message is dropped, because it quotes the input.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import PermanentError

__all__ = ["ApiClick", "ApiSubscriber", "ApiSubscription", "ApiView", "parse"]

M = TypeVar("M", bound=BaseModel)


class _Document(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ApiSubscription(_Document):
    """One of a subscriber's lists (`lists[]` of a subscriber)."""

    id: int
    name: str
    type: str | None = None
    optin: str | None = None
    subscription_status: str
    subscription_created_at: str | None = None
    subscription_updated_at: str | None = None


class ApiSubscriber(_Document):
    id: int
    uuid: str | None = None
    email: str
    name: str = ""
    attribs: dict[str, Any] = Field(default_factory=dict)
    status: str
    lists: list[ApiSubscription] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def customer_number(self) -> str | None:
        value = self.attribs.get("customer_number")
        return value.strip().upper() if isinstance(value, str) and value.strip() else None

    def __repr__(self) -> str:  # personal data stays out of logs and tracebacks
        return f"ApiSubscriber({self.id})"

    __str__ = __repr__


class ApiView(_Document):
    campaign_id: int | None = None
    campaign: str | None = None
    subject: str | None = None
    created_at: str | None = None


class ApiClick(_Document):
    campaign_id: int | None = None
    campaign: str | None = None
    url: str | None = None
    created_at: str | None = None


def parse(model: type[M], document: Any, operation: str) -> M:
    try:
        return model.model_validate(document)
    except ValidationError:
        raise PermanentError(
            f"newsletter API answered {operation} with an unexpected {model.__name__} document"
        ) from None
