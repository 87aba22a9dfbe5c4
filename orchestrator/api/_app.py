"""The desk's ASGI application: the JSON API (/api, OpenAPI at /api/openapi.json), the dashboard
(/), static assets (/static), and the health endpoints (/healthz: the process answers; /readyz:
the store, Temporal and Kafka are reachable)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import ASGIApp, Receive, Scope, Send

from orchestrator.api._flash import FlashSigner
from orchestrator.api._render import STATIC_DIR
from orchestrator.api._security import Csrf, NotLoggedIn
from orchestrator.auth import TokenVerifier
from orchestrator.dpo import Desk
from orchestrator.settings import Settings
from orchestrator.telemetry import ProcessTelemetry

__all__ = ["create_app"]

_CHECK_TIMEOUT = 3.0
# Everything the pages load comes from this origin: no CDN, no inline script.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class _SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


class _DropEmptyFilters:
    """The dashboard's filter form sends every field, empty ones as `status=`; for its pages an
    empty field means "no filter" (the JSON API stays strict: an empty value there is a 422)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/requests" and scope["query_string"]:
            pairs = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            kept = [(k, v) for k, v in pairs if v.strip()]
            scope = {**scope, "query_string": urlencode(kept).encode("latin-1")}
        await self.app(scope, receive, send)


async def _check(name: str, probe: Awaitable[Any]) -> tuple[str, str]:
    try:
        async with asyncio.timeout(_CHECK_TIMEOUT):
            await probe
        return name, "ok"
    except Exception as exc:  # readiness reports any failure by its type, never raises
        return name, f"unreachable ({type(exc).__name__})"


async def _store_probe(desk: Desk) -> None:
    import sqlalchemy as sa

    async with desk.store.engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def _temporal_probe(desk: Desk) -> None:
    live = desk.live_status
    if live is None:
        raise RuntimeError("no Temporal client configured")
    client = await live.client()
    await client.service_client.check_health(timeout=_timedelta(_CHECK_TIMEOUT))


def _timedelta(seconds: float) -> Any:
    from datetime import timedelta

    return timedelta(seconds=seconds)


async def _kafka_probe(settings: Settings) -> None:
    from aiokafka import AIOKafkaClient

    from orchestrator.kafka_config import aiokafka_options

    client = AIOKafkaClient(
        request_timeout_ms=int(_CHECK_TIMEOUT * 1000), **aiokafka_options(settings)
    )
    try:
        await client.bootstrap()
    finally:
        await client.close()


def create_app(settings: Settings, *, desk: Desk | None = None) -> FastAPI:
    """The application. `desk`: an already open front door (tests); otherwise one is opened at
    startup from `settings` and closed at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = desk is None
        # The process's metrics and probes (DSR_METRICS_BIND), like every other service's;
        # made before the desk connects to Temporal, so the SDK's runtime metrics are merged.
        telemetry = ProcessTelemetry("dsr-api", settings) if owned else None
        app.state.desk = desk if desk is not None else await Desk.open(settings)
        try:
            if telemetry is not None:
                await telemetry.start()
            yield
        finally:
            if telemetry is not None:
                await telemetry.stop()
            if owned:
                await app.state.desk.close()

    app = FastAPI(
        title="dsr-orchestrator — the DPO's desk",
        version="1",
        description=(
            "Data-subject requests for the DPO, operators and auditors. Bearer tokens with roles "
            "`dpo` (everything), `operator` (read; resolve, retry, skip systems), `auditor` "
            "(read-only, reports). Pseudonymous: no personal data of a subject is served."
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,  # the Swagger UI would load its assets from a CDN
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.verifier = TokenVerifier.from_settings(settings)
    app.state.csrf = Csrf()
    app.state.flash = FlashSigner()
    app.add_middleware(_SecurityHeaders)
    app.add_middleware(_DropEmptyFilters)

    @app.exception_handler(NotLoggedIn)
    async def _to_login(request: Request, _: NotLoggedIn) -> Response:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process is up and answering."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        """Ready when the store, Temporal and Kafka are all reachable (503 and which is not)."""
        current: Desk = request.app.state.desk
        checks = dict(
            await asyncio.gather(
                _check("store", _store_probe(current)),
                _check("temporal", _temporal_probe(current)),
                _check("kafka", _kafka_probe(settings)),
            )
        )
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    from orchestrator.api._dashboard import router as dashboard_router
    from orchestrator.api._decisions import dashboard_router as decision_forms_router
    from orchestrator.api._decisions import router as decisions_router
    from orchestrator.api._routes import router as api_router

    app.include_router(decisions_router)  # before the reads: /api/requests/bulk/... is a path
    app.include_router(api_router)
    app.include_router(decision_forms_router)
    app.include_router(dashboard_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
