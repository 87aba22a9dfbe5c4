"""The per-process telemetry endpoint (`DSR_METRICS_BIND`, `host:port`): one port for
Prometheus and the Kubernetes probes.

- `GET /metrics`: this process's metrics (prometheus-client's default registry: ours, plus the
  process and Python collectors) followed by the Temporal SDK's own runtime metrics. The SDK
  serves those itself, from Rust, on a second port; we bind that one to loopback only and
  append its text here, so a pod has one scrape target and the SDK's port is never exposed.
  Gauges that describe shared state (open requests, intake lag) are refreshed at scrape time.
- `GET /healthz`: liveness. Answered by the process's own event loop, so a wedged loop fails
  the probe (a thread would keep answering while nothing else works).
- `GET /readyz`: readiness. Every dependency check must pass within its timeout (the worker:
  Temporal; the intake: Temporal and Kafka); the body names the failing dependencies only.

Runs on the process's asyncio loop (aiohttp's server, which installs no signal handlers of its
own), started and stopped with the process: `async with TelemetryServer(...)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from orchestrator.logging import get_logger
from orchestrator.settings import parse_bind
from orchestrator.telemetry._metrics import TEMPORAL_RUNTIME_UP

__all__ = ["Check", "TelemetryServer", "parse_bind"]

log = get_logger(__name__)

Check = Callable[[], Awaitable[None]]
"""A readiness check: returns when the dependency answers, raises (or hangs) when it does not."""

CHECK_TIMEOUT = 2.0
REFRESH_TIMEOUT = 3.0
REFRESH_MIN_INTERVAL = 1.0


class TelemetryServer:
    def __init__(
        self,
        bind: str,
        *,
        checks: Mapping[str, Check] | None = None,
        refreshers: list[Callable[[], Awaitable[None]]] | None = None,
        temporal_metrics_url: str | None = None,
    ) -> None:
        self.host, self.port = parse_bind(bind, "DSR_METRICS_BIND")
        self._checks = dict(checks or {})
        self._refreshers = list(refreshers or [])
        self._temporal_metrics_url = temporal_metrics_url
        self._last_refresh = 0.0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    def add_check(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def add_refresher(self, refresh: Callable[[], Awaitable[None]]) -> None:
        self._refreshers.append(refresh)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:  # an ephemeral port (tests): report the one the OS chose
            self.port = int(self._runner.addresses[0][1])
        log.info("telemetry endpoint listening", url=self.url)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelemetryServer:
        await self.start()
        return self

    async def __aexit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ── handlers ────────────────────────────────────────────────────────────────────────────
    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, _request: web.Request) -> web.Response:
        names = list(self._checks)
        results = await asyncio.gather(
            *(asyncio.wait_for(self._checks[n](), CHECK_TIMEOUT) for n in names),
            return_exceptions=True,
        )
        failing = [n for n, r in zip(names, results, strict=True) if isinstance(r, BaseException)]
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                log.warning(
                    "readiness check failed", dependency=name, error_type=type(result).__name__
                )
        if failing:
            return web.Response(status=503, text=f"not ready: {', '.join(failing)}\n")
        return web.Response(text="ready\n")

    async def _metrics(self, _request: web.Request) -> web.Response:
        await self._refresh()
        temporal = await self._temporal_metrics()
        if self._temporal_metrics_url is not None:
            TEMPORAL_RUNTIME_UP.set(1 if temporal is not None else 0)
        body = generate_latest(REGISTRY)
        if temporal:
            body += temporal if temporal.endswith(b"\n") else temporal + b"\n"
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _refresh(self) -> None:
        """Recompute scrape-time gauges, at most once a second, never failing the scrape."""
        if time.monotonic() - self._last_refresh < REFRESH_MIN_INTERVAL:
            return
        self._last_refresh = time.monotonic()
        for refresh in self._refreshers:
            try:
                await asyncio.wait_for(refresh(), REFRESH_TIMEOUT)
            except Exception as error:  # a stale gauge beats a failed scrape
                log.warning("metrics refresh failed", error_type=type(error).__name__)

    async def _temporal_metrics(self) -> bytes | None:
        if self._temporal_metrics_url is None:
            return None
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._http.get(self._temporal_metrics_url) as response:
                if response.status == 200:
                    return await response.read()
        return None
