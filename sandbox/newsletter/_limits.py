"""Faults a real listmonk behind a real proxy produces, on demand: rate limiting and an outage.

`rate_limit` (requests per second over the whole API, a token bucket) answers 429 with
Retry-After when exceeded; `fail_requests` makes the first N API requests answer 503. Both only
touch /api, never /health, so the server still reports ready. They exist so that the connector's
retry and backoff are tested against a real server, not a mock.

A plain ASGI middleware (not Starlette's BaseHTTPMiddleware): it sits in front of every request,
and the plain form adds no task or stream per request.
"""

from __future__ import annotations

import time

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.newsletter._options import NewsletterOptions

__all__ = ["FaultMiddleware"]


class FaultMiddleware:
    def __init__(self, app: ASGIApp, options: NewsletterOptions) -> None:
        self._app = app
        self._rate = options.rate_limit
        self._retry_after = options.retry_after
        self._failures_left = options.fail_requests
        self._capacity = max(options.rate_limit, 1.0)
        self._tokens = self._capacity
        self._refilled = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/api/") or path == "/api/health":
            await self._app(scope, receive, send)
            return
        if self._failures_left > 0:
            self._failures_left -= 1
            response = JSONResponse({"message": "service temporarily unavailable"}, 503)
        elif self._rate > 0 and not self._take_token():
            response = JSONResponse(
                {"message": "too many requests"},
                status_code=429,
                headers={"Retry-After": str(self._retry_after)},
            )
        else:
            await self._app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled) * self._rate)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
