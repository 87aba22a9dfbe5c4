"""The support desk sandbox: a FastAPI app shaped like Zendesk's REST API v2, on SQLite.

    python -m sandbox.serve support --port 8083 --database-url sqlite:///support.db \
        --option api_token=secret --option rate_limit=50

Options (all strings, as `sandbox.serve` passes them):
- `api_token`  the token clients must send as `Authorization: Bearer <token>`
               (default "sandbox-support-token"); anything else gets 401.
- `rate_limit` requests per second the API accepts (token bucket; 0 = no limit); over the
               limit it answers 429 with `Retry-After` in seconds, as Zendesk does. The default,
               1000, is lenient so that the local stack and the benchmarks measure the systems,
               not the limit; a real Zendesk account allows 700 to 2,500 requests a minute, so
               set e.g. `rate_limit=12` to rehearse against that.
- `rate_burst` how many requests may come at once after a quiet spell (default: one second's
               worth of `rate_limit`, at least 1).

The database is seeded beforehand (`sandbox.support.seed`); the app only serves it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy import create_engine, event
from sqlalchemy.engine import make_url

from sandbox.support import _talk, _tickets, _users
from sandbox.support._deps import require_token
from sandbox.support._errors import install_error_handlers
from sandbox.support._ratelimit import RateLimitMiddleware, TokenBucket

__all__ = ["DEFAULT_API_TOKEN", "DEFAULT_RATE_LIMIT", "create_app"]

DEFAULT_API_TOKEN = "sandbox-support-token"  # noqa: S105 - the sandbox's documented default
DEFAULT_RATE_LIMIT = 1000.0
_OPTIONS = frozenset({"api_token", "rate_limit", "rate_burst"})


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_app(database_url: str, **options: str) -> FastAPI:
    """The support API over the database at `database_url` (see the module doc for options)."""
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise ValueError(f"unknown support sandbox options: {', '.join(unknown)}")
    api_token = options.get("api_token", DEFAULT_API_TOKEN)
    if not api_token:
        raise ValueError("api_token must not be empty")
    rate_limit = float(options.get("rate_limit", DEFAULT_RATE_LIMIT))
    if rate_limit < 0:
        raise ValueError("rate_limit must not be negative")
    burst = int(options.get("rate_burst", max(1, math.ceil(rate_limit))))

    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ValueError("the support sandbox serves a SQLite database")
    # Plain sqlite3 in FastAPI's thread pool: a query costs a tenth of a millisecond, where the
    # asyncio driver's thread hand-off costs more than the query (a locate makes ten requests
    # and must stay under 50 ms).
    engine = create_engine(
        url.set(drivername="sqlite"), hide_parameters=True, connect_args={"timeout": 30}
    )
    event.listen(engine, "connect", _sqlite_on_connect)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            engine.dispose()

    app = FastAPI(
        title="Support desk sandbox (Zendesk-shaped API v2)",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.api_token = api_token
    install_error_handlers(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    for module in (_users, _tickets, _talk):
        app.include_router(module.router, dependencies=[Depends(require_token)])
    if rate_limit > 0:
        app.add_middleware(
            RateLimitMiddleware,
            bucket=TokenBucket(rate_limit, burst),
            exempt=frozenset({"/health"}),
        )
    return app
