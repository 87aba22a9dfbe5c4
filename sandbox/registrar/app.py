"""The registrar sandbox as an HTTP service: `create_app(database_url, **options) -> FastAPI`.

Shaped like a registrar platform: an admin API behind `Authorization: Bearer <api_token>`
(contacts, domains and roles, the log of changes pushed to the registries) and public RDAP.
Run it with `python -m sandbox.serve registrar --port N --database-url URL [--option k=v]`;
the options are in `sandbox.registrar.options` (token, page size, and deterministic faults).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from sandbox.registrar import admin, public
from sandbox.registrar.options import RegistrarOptions
from sandbox.registrar.seed import async_database_url
from sandbox.registrar.store import RegistrarStore

__all__ = ["create_app"]

# Where a redirecting platform sends the client: an address that answers nothing (RFC 2606).
_MOVED_TO = "https://registrar.example.invalid/"


class _Faults:
    """Counts admin requests and injects the configured faults (deterministically)."""

    def __init__(self, options: RegistrarOptions) -> None:
        self._options = options
        self._count = 0
        self._window = 0
        self._in_window = 0

    async def apply(self) -> None:
        options = self._options
        if options.latency:
            await asyncio.sleep(options.latency)  # a slow platform, not synchronisation
        self._count += 1
        headers = {"Retry-After": str(options.retry_after)}
        if options.unavailable_every and self._count % options.unavailable_every == 0:
            raise HTTPException(503, "registrar temporarily unavailable", headers)
        if options.throttle_every and self._count % options.throttle_every == 0:
            raise HTTPException(429, "too many requests", headers)
        if options.redirect_every and self._count % options.redirect_every == 0:
            raise HTTPException(302, "the admin API has moved", {"Location": _MOVED_TO})
        if options.rate_limit:
            window = int(time.monotonic())
            if window != self._window:
                self._window, self._in_window = window, 0
            self._in_window += 1
            if self._in_window > options.rate_limit:
                raise HTTPException(429, "too many requests", headers)


async def _guard(request: Request) -> None:
    """Admin requests: a valid Bearer token first, then the configured faults."""
    options: RegistrarOptions = request.app.state.options
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.strip().encode(), options.api_token.encode()
    ):
        raise HTTPException(401, "invalid or missing API token", {"WWW-Authenticate": "Bearer"})
    faults: _Faults = request.app.state.faults
    await faults.apply()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def create_app(database_url: str, **options: str) -> FastAPI:
    """The app on `database_url` (seeded by `seed_registrar`); options as strings."""
    settings = RegistrarOptions.parse(options)
    url = async_database_url(database_url)
    sqlite = url.get_backend_name() == "sqlite"
    engine = create_async_engine(
        url,
        hide_parameters=True,
        pool_pre_ping=not sqlite,  # a file cannot drop the connection; a ping costs a round trip
        connect_args={"timeout": 30} if sqlite else {},
    )
    if sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(
        title="Registrar sandbox",
        description="Admin API and public RDAP of the sandbox registrar (fictitious data).",
        lifespan=lifespan,
    )
    app.state.options = settings
    app.state.store = RegistrarStore(engine)
    app.state.faults = _Faults(settings)

    @app.get("/health")
    async def health() -> JSONResponse:
        await app.state.store.ping()
        return JSONResponse({"status": "ok", "system": "registrar"})

    app.include_router(admin.router, dependencies=[Depends(_guard)])
    app.include_router(public.router)
    return app
