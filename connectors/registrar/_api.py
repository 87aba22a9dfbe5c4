"""The registrar platform's admin API responses, as the connector reads them.

Validated on arrival, so a changed or broken platform is a typed error, not a KeyError deep in
an erasure. Models holding personal data render without it (`repr` reaches logs and tracebacks).
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Address",
    "Change",
    "Contact",
    "Domain",
    "Page",
    "RegistryUpdate",
    "Role",
    "RoleRemoval",
]

T = TypeVar("T")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Address(_Model):
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    country: str

    def __repr__(self) -> str:
        return "Address(...)"

    __str__ = __repr__


class Contact(_Model):
    handle: str
    kind: str  # person | organisation | role
    name: str
    organisation: str | None = None
    organisation_number: str | None = None
    personal_identity_number: str | None = None
    email: str
    phone: str | None = None
    address: Address
    customer_number: str | None = None
    registries: list[str] = Field(default_factory=list)
    disclose: bool
    restricted: bool
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:
        return f"Contact({self.handle}, {self.kind})"

    __str__ = __repr__


class Role(_Model):
    handle: str
    role: str  # registrant | admin | tech
    kind: str


class Domain(_Model):
    name: str
    registry: str  # se | gtld
    status: str  # active | expired | deleted
    created_at: datetime
    expires_at: datetime
    roles: list[Role] = Field(default_factory=list)

    def __repr__(self) -> str:
        return f"Domain({self.registry}, {self.status})"

    __str__ = __repr__


class RegistryUpdate(_Model):
    reference: str
    registry: str
    handle: str
    action: str
    fields: list[str] = Field(default_factory=list)
    created_at: datetime


class Page(_Model, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
    total: int | None = None


class RoleRemoval(_Model):
    """The answer to taking a contact off a lapsed registration: its roles there removed, and
    whether that left no customer contact on it, so that the platform deleted it too."""

    roles_removed: int
    domain_deleted: bool = False


class Change(_Model):
    """The answer to a change of a contact: the registry updates that record it."""

    contact: Contact | None = None
    changed: bool
    changed_fields: list[str] = Field(default_factory=list)
    registry_updates: list[RegistryUpdate] = Field(default_factory=list)
    domains_deleted: int = 0
