"""The newsletter sandbox as an HTTP server shaped like listmonk's REST API.

    create_app("sqlite+aiosqlite:///newsletter.db", api_token="secret", rate_limit="50")

Run it with `python -m sandbox.serve newsletter --port N --database-url U [--option k=v]`;
options are described in `NewsletterOptions`. The database is seeded beforehand
(`seed_newsletter`); on start the app only creates the tables when they are missing, so an
unseeded file is an empty newsletter, not an error.

Errors are listmonk's `{"message": "..."}` and never repeat what the client sent: request
bodies and queries hold e-mail addresses, and error text ends up in logs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sandbox.newsletter import _blocklist, _lists, _subscribers
from sandbox.newsletter._db import create_engine
from sandbox.newsletter._limits import FaultMiddleware
from sandbox.newsletter._options import NewsletterOptions
from sandbox.newsletter.schema import metadata

__all__ = ["create_app"]


def create_app(database_url: str, **options: str) -> FastAPI:
    settings = NewsletterOptions.parse(options)
    engine = create_engine(database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)  # checkfirst: a seeded file is kept
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="newsletter sandbox (listmonk-shaped)",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.options = settings
    app.state.engine = engine
    app.add_middleware(FaultMiddleware, options=settings)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(_subscribers.router)
    app.include_router(_lists.router)
    app.include_router(_blocklist.router)

    @app.get("/health")
    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        return {"data": True}

    return app


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"message": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Which fields are wrong, never their values (FastAPI's default echoes the input)."""
    assert isinstance(exc, RequestValidationError)
    fields = sorted({".".join(str(p) for p in error["loc"]) for error in exc.errors()})
    return JSONResponse({"message": f"invalid request: {', '.join(fields)}"}, status_code=400)
