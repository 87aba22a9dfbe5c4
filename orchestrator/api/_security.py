"""Who is calling, and may they: bearer tokens (API) or the dashboard's session cookie, roles,
and CSRF protection for the dashboard's forms.

The session cookie holds the token itself (HttpOnly, SameSite=Strict, Secure unless the desk is
served on loopback over plain HTTP): the server keeps no session state, and revoking a token in
`DSR_API_TOKENS` ends every session of it. Each form carries a CSRF token that is an HMAC of the
session token's hash under a per-process secret: a page of another origin can neither read it
nor forge it, and it is bound to the session it was issued for.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from orchestrator.auth import Principal, Role, TokenVerifier, bearer_token

__all__ = [
    "COOKIE_NAME",
    "LOGIN_CSRF_COOKIE",
    "Csrf",
    "NotLoggedIn",
    "any_role",
    "authenticate",
    "require",
]

COOKIE_NAME = "dsr_desk"
LOGIN_CSRF_COOKIE = "dsr_login_csrf"
READ_ROLES = (Role.DPO, Role.OPERATOR, Role.AUDITOR)
# Only documents the scheme in OpenAPI (auto_error off): `authenticate` does the checking, for
# the bearer header and the dashboard's cookie alike.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="a desk token")


class NotLoggedIn(Exception):
    """A dashboard page was asked for without a valid session: the handler redirects."""


class Csrf:
    """Issues and checks the forms' CSRF tokens (per process secret, bound to the session)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def token_for(self, session_token: str) -> str:
        digest = hashlib.sha256(session_token.encode()).digest()
        return hmac.new(self._secret, digest, hashlib.sha256).hexdigest()

    def check(self, session_token: str, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(
            self.token_for(session_token), presented or ""
        )


def presented_token(request: Request) -> tuple[str | None, str]:
    """The token of the call and where it came from: a bearer header wins over the cookie."""
    header = bearer_token(request.headers.get("authorization"))
    if header:
        return header, "bearer"
    return request.cookies.get(COOKIE_NAME), "cookie"


def authenticate(request: Request) -> Principal | None:
    verifier: TokenVerifier = request.app.state.verifier
    token, _ = presented_token(request)
    return verifier.verify(token)


def require(*roles: Role) -> Callable[[Request], Principal]:
    """A dependency: the caller's principal, or 401 (no/unknown token) / 403 (wrong role)."""

    def dependency(
        request: Request,
        _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
    ) -> Principal:
        principal = authenticate(request)
        if principal is None:
            if request.url.path.startswith("/api/") or request.url.path in ("/readyz",):
                raise HTTPException(
                    status.HTTP_401_UNAUTHORIZED,
                    "a valid bearer token is required",
                    headers={"WWW-Authenticate": "Bearer"},
                )
            raise NotLoggedIn
        if not principal.has_role(*roles):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"the role {principal.role.value!r} may not do this "
                f"(needs {' or '.join(r.value for r in roles)})",
            )
        return principal

    return dependency


any_role = require(*READ_ROLES)
Reader = Annotated[Principal, Depends(any_role)]
