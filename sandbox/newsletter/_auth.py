"""listmonk's API authentication: `Authorization: token user:token` or HTTP basic `user:token`.

A missing or wrong credential is 401 (the connector maps it to AuthenticationError). Both parts
are compared in constant time, so the sandbox does not teach a timing attack by example.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from fastapi import HTTPException, Request

from sandbox.newsletter._options import NewsletterOptions

__all__ = ["require_api_user"]


def _credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    elif scheme.lower() != "token":
        return None
    user, colon, token = value.partition(":")
    return (user, token) if colon else None


def require_api_user(request: Request) -> None:
    """FastAPI dependency of every /api route."""
    options: NewsletterOptions = request.app.state.options
    given = _credentials(request.headers.get("authorization", ""))
    ok = given is not None
    user, token = given or ("", "")
    ok &= hmac.compare_digest(user.encode(), options.api_user.encode())
    ok &= hmac.compare_digest(token.encode(), options.api_token.encode())
    if not ok:
        raise HTTPException(
            status_code=401,
            detail="invalid API credentials",
            headers={"WWW-Authenticate": 'Basic realm="listmonk"'},
        )
