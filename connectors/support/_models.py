"""The API objects the connector reads, validated at the boundary (unknown fields ignored).

A body that does not fit is a PermanentError naming the endpoint only: pydantic's own messages
quote the offending input, which is personal data.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.base import PermanentError

__all__ = [
    "LEGAL_HOLD_TAG",
    "ApiAttachment",
    "ApiCall",
    "ApiComment",
    "ApiOrganization",
    "ApiRating",
    "ApiTicket",
    "ApiUser",
    "parse",
    "parse_all",
]

LEGAL_HOLD_TAG = "legal_hold"


class _Api(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ApiUser(_Api):
    id: int
    name: str = ""
    email: str | None = None
    phone: str | None = None
    role: str = "end-user"
    organization_id: int | None = None
    external_id: str | None = None
    created_at: str | None = None
    active: bool = True  # False: deleted (soft), still held until purged from deleted_users

    def __repr__(self) -> str:  # the name, e-mail and phone are personal data
        return f"ApiUser({self.id})"

    __str__ = __repr__


class ApiOrganization(_Api):
    id: int
    name: str = ""
    organization_fields: dict[str, Any] = Field(default_factory=dict)


class ApiTicket(_Api):
    id: int
    subject: str | None = None
    status: str | None = None
    requester_id: int | None = None
    organization_id: int | None = None
    tags: list[str] = Field(default_factory=list)
    external_id: str | None = None
    via: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def legal_hold(self) -> bool:
        return LEGAL_HOLD_TAG in self.tags


class ApiAttachment(_Api):
    id: int
    file_name: str | None = None
    content_type: str | None = None
    size: int | None = None
    content_url: str | None = None


class ApiComment(_Api):
    id: int
    author_id: int | None = None
    body: str = ""
    public: bool = True
    created_at: str | None = None
    attachments: list[ApiAttachment] = Field(default_factory=list)

    def __repr__(self) -> str:  # the body is free text full of personal data
        return f"ApiComment({self.id})"

    __str__ = __repr__


class ApiCall(_Api):
    id: int
    user_id: int | None = None
    ticket_id: int | None = None
    direction: str | None = None
    started_at: str | None = None
    duration: int | None = None
    recording_url: str | None = None


class ApiRating(_Api):
    id: int
    ticket_id: int | None = None
    score: str | None = None
    comment: str | None = None
    created_at: str | None = None


_M = TypeVar("_M", bound=_Api)


def parse(model: type[_M], data: object, endpoint: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError:
        raise PermanentError(
            f"support API {endpoint} answered with an unexpected {model.__name__[3:].lower()}"
        ) from None


def parse_all(model: type[_M], items: list[dict[str, Any]], endpoint: str) -> list[_M]:
    return [parse(model, item, endpoint) for item in items]
