"""Bearer tokens with roles, shared by the DPO API/dashboard and the codec server.

Tokens are configured as `DSR_API_TOKENS` = `name:role:sha256hex[,name:role:sha256hex...]`: only
the SHA-256 of each token is ever at rest, so a leaked settings file grants nothing. A presented
token is hashed and compared with *every* configured hash in constant time (no early exit), so
neither the comparison nor the loop reveals how much of a hash matched or which entry it was.

    verifier = TokenVerifier.from_settings(settings)
    principal = verifier.verify(bearer_token(request.headers.get("authorization")))
    if principal is None: ...  # 401
    if not principal.has_role(Role.DPO): ...  # 403

The token's `name` is the actor written to the audit trail.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from orchestrator.settings import Settings

__all__ = [
    "ApiToken",
    "InvalidTokenConfig",
    "Principal",
    "Role",
    "TokenVerifier",
    "bearer_token",
    "format_api_tokens",
    "generate_token",
    "hash_token",
    "parse_api_tokens",
]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class Role(StrEnum):
    """`dpo`: everything; `operator`: read, resolve/retry/skip systems; `auditor`: read-only,
    reports and audit verification."""

    DPO = "dpo"
    OPERATOR = "operator"
    AUDITOR = "auditor"


class InvalidTokenConfig(ValueError):
    """`DSR_API_TOKENS` is malformed. The message names the entry's position, never its value."""


class ApiToken(BaseModel):
    """One configured token: who it belongs to, its role, and the SHA-256 of the token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME.pattern)
    role: Role
    sha256: str = Field(pattern=_HEX64.pattern, repr=False)


class Principal(BaseModel):
    """An authenticated caller: the token's name (the audit actor) and its role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    role: Role

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


def hash_token(token: str) -> str:
    """The lowercase hex SHA-256 of a token, as stored in `DSR_API_TOKENS`."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def parse_api_tokens(raw: str) -> list[ApiToken]:
    """`name:role:sha256hex[,...]` → tokens. Empty entries are ignored; a malformed one, an
    unknown role, a duplicate name or a duplicate hash raises `InvalidTokenConfig`."""
    tokens: list[ApiToken] = []
    for position, part in enumerate((p.strip() for p in raw.split(",")), start=1):
        if not part:
            continue
        fields = part.split(":")
        if len(fields) != 3:
            raise InvalidTokenConfig(f"DSR_API_TOKENS entry {position} must be name:role:sha256hex")
        name, role, digest = (f.strip() for f in fields)
        if not _NAME.match(name):
            raise InvalidTokenConfig(f"DSR_API_TOKENS entry {position}: invalid name")
        if role not in {r.value for r in Role}:
            raise InvalidTokenConfig(
                f"DSR_API_TOKENS entry {position}: role must be one of "
                f"{', '.join(r.value for r in Role)}"
            )
        digest = digest.lower()
        if not _HEX64.match(digest):
            raise InvalidTokenConfig(
                f"DSR_API_TOKENS entry {position}: the hash must be 64 hex characters (SHA-256)"
            )
        tokens.append(ApiToken(name=name, role=Role(role), sha256=digest))
    if len({t.name for t in tokens}) != len(tokens):
        raise InvalidTokenConfig("DSR_API_TOKENS names must be unique")
    if len({t.sha256 for t in tokens}) != len(tokens):
        raise InvalidTokenConfig("DSR_API_TOKENS hashes must be unique")
    return tokens


def format_api_tokens(tokens: Iterable[ApiToken]) -> str:
    """The inverse of `parse_api_tokens` (what `dsr up` writes to `.state/local.env`)."""
    return ",".join(f"{t.name}:{t.role.value}:{t.sha256}" for t in tokens)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


class TokenVerifier:
    """Maps a presented token to its `Principal`, in constant time over all configured tokens."""

    def __init__(self, tokens: Iterable[ApiToken]) -> None:
        self._tokens = tuple(tokens)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        return cls(parse_api_tokens(settings.api_tokens.get_secret_value()))

    @property
    def configured(self) -> bool:
        return bool(self._tokens)

    def verify(self, token: str | None) -> Principal | None:
        if not token:
            return None
        presented = hash_token(token).encode("ascii")
        match: ApiToken | None = None
        for candidate in self._tokens:
            # Every entry is compared, whatever matched before: no timing signal.
            if hmac.compare_digest(presented, candidate.sha256.encode("ascii")):
                match = candidate
        return None if match is None else Principal(name=match.name, role=match.role)
