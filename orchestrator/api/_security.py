"""Who is calling, and may they: bearer tokens (API) or the dashboard's session cookie, roles,
and CSRF protection for the dashboard's forms.

The session cookie holds the token itself (HttpOnly, SameSite=Strict, Secure unless the desk is
served on loopback over plain HTTP): the server keeps no session state, and revoking a token in
`DSR_API_TOKENS` ends every session of it. Each form carries a CSRF token that is an HMAC of the
session token's hash under a per-process secret: a page of another origin can neither read it
nor forge it, and it is bound to the session it was issued for.

The cookie reads (the dashboard links to the CSV and the report under /api), but it never
changes anything under /api: a browser sends it with any request a page makes, and the JSON
API has no CSRF token to check. A change there takes the bearer header (`require_bearer`),
which no other origin can make a browser send; the dashboard changes things through its own
forms, each CSRF-checked.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
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
    "cookie_secure",
    "require",
    "require_bearer",
    "same_secret",
]

COOKIE_NAME = "dsr_desk"
LOGIN_CSRF_COOKIE = "dsr_login_csrf"
READ_ROLES = (Role.DPO, Role.OPERATOR, Role.AUDITOR)
# Only documents the scheme in OpenAPI (auto_error off): `authenticate` does the checking, for
# the bearer header and the dashboard's cookie alike.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="a desk token")


def same_secret(expected: str, presented: str | None) -> bool:
    """Constant-time equality of two secrets. Only ASCII is ever issued (hex, base64url): any
    other presented value is simply wrong (`hmac.compare_digest` raises TypeError on non-ASCII
    text, which would be a 500 for a hand-edited form field or cookie)."""
    if not presented or not expected or not presented.isascii() or not expected.isascii():
        return False
    return hmac.compare_digest(expected.encode("ascii"), presented.encode("ascii"))


def cookie_secure(request: Request) -> bool:
    """Whether a cookie is marked Secure: unless the desk is served to a loopback host over
    plain HTTP (`make up`). Behind a TLS-terminating proxy the app sees http (uvicorn runs with
    proxy_headers off), so the scheme alone would leave the session token, which is the DPO's
    credential, free to travel over plain HTTP; the public host name is what tells."""
    if request.url.scheme == "https":
        return True
    # A proxy that says it took the request over TLS (only ever adds Secure: harmless if forged).
    if request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower() == "https":
        return True
    host = (request.url.hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a name: served to the world


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
        return same_secret(self.token_for(session_token), presented)


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


def require(*roles: Role, bearer_only: bool = False) -> Callable[[Request], Principal]:
    """A dependency: the caller's principal, or 401 (no/unknown token) / 403 (wrong role).
    `bearer_only`: the session cookie does not count (see the module's docstring)."""

    def dependency(
        request: Request,
        _documented: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)] = None,
    ) -> Principal:
        if bearer_only and presented_token(request)[1] != "bearer":
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a bearer token is required: the dashboard's session cookie is not accepted "
                "for changes through the API (the dashboard's forms carry a CSRF token)",
                headers={"WWW-Authenticate": "Bearer"},
            )
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


def require_bearer(*roles: Role) -> Callable[[Request], Principal]:
    """`require` for the API's changes: the bearer header only, never the session cookie."""
    return require(*roles, bearer_only=True)


any_role = require(*READ_ROLES)
Reader = Annotated[Principal, Depends(any_role)]
