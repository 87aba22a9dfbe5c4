"""The dashboard's flash message ("approve accepted: …", "That token is not valid."): carried in
the redirect's query string, shown once on the page it leads to.

Why signed: the page renders the message in the site's own system-message style, on every page
including /login. Unsigned, `?msg=…&kind=error` would let anyone send the DPO a link to the real
desk saying whatever they like ("Session expired: paste your token at https://…"). So the app
signs what it sets (HMAC under a per-process secret, over the kind, the text and when it was
set) and a page shows a message only with a valid signature younger than `FLASH_SECONDS`; any
other `msg` is ignored. Stateless like the session: a restart just drops a pending message.
The parameters are `msg*`, apart from the list's filters (`kind` is one: a flash `kind=error`
on /requests would be a 422 for an unknown request kind).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from orchestrator.api._security import same_secret

__all__ = ["FLASH_SECONDS", "Flash", "FlashSigner", "flash_of", "flash_url"]

FLASH_SECONDS = 300  # long enough for a slow redirect, short enough that a link goes stale
_KINDS = ("ok", "error")


@dataclass(frozen=True)
class Flash:
    message: str
    kind: str  # "ok" | "error"


class FlashSigner:
    """Signs and checks flash messages (per-process secret)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _signature(self, kind: str, message: str, issued: int) -> str:
        text = f"{kind}\n{issued}\n{message}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()

    def params(
        self, message: str, *, error: bool = False, now: float | None = None
    ) -> dict[str, str]:
        """The query parameters that carry `message` to the next page."""
        kind = "error" if error else "ok"
        issued = int(now if now is not None else time.time())
        return {
            "msg": message,
            "msg_kind": kind,
            "msg_at": str(issued),
            "msg_sig": self._signature(kind, message, issued),
        }

    def verified(
        self,
        message: str | None,
        kind: str | None,
        at: str | None,
        sig: str | None,
        *,
        now: float | None = None,
    ) -> Flash | None:
        """The message if this process signed it recently; else None (never an error)."""
        if not message or kind not in _KINDS or not at or not at.isascii() or not at.isdigit():
            return None
        issued = int(at)
        age = (now if now is not None else time.time()) - issued
        if not 0 <= age <= FLASH_SECONDS:
            return None
        if not same_secret(self._signature(kind, message, issued), sig):
            return None
        return Flash(message=message, kind=kind)


def _signer(request: Request) -> FlashSigner:
    signer: FlashSigner = request.app.state.flash
    return signer


def flash_url(
    request: Request, path: str, message: str, *, error: bool = False, **extra: str
) -> str:
    """`path` with a signed flash message (and `extra` query parameters) appended."""
    query = urlencode({**_signer(request).params(message, error=error), **extra})
    return f"{path}{'&' if '?' in path else '?'}{query}"


def flash_of(request: Request) -> Flash | None:
    """The page's flash message: only one this app set (see the module's docstring)."""
    q = request.query_params
    return _signer(request).verified(
        q.get("msg"), q.get("msg_kind"), q.get("msg_at"), q.get("msg_sig")
    )
