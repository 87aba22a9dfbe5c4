"""`dsr api`: the desk served by uvicorn on `DSR_API_BIND` (127.0.0.1:8400 by default), stopping
cleanly on SIGTERM/SIGINT through `orchestrator.shutdown.run_uvicorn` (drain in-flight requests,
close the store, a watchdog bounds the whole stop)."""

from __future__ import annotations

from orchestrator.api._app import create_app
from orchestrator.settings import Settings, parse_bind
from orchestrator.shutdown import run_uvicorn

__all__ = ["parse_bind", "serve"]


def serve(settings: Settings, bind: str | None = None) -> None:
    host, port = parse_bind(bind or settings.api_bind, "DSR_API_BIND")
    # A drained server exits with status 0 (run_uvicorn), not by the re-raised signal.
    run_uvicorn(
        create_app(settings),
        host=host,
        port=port,
        deadline=settings.shutdown_timeout,
        log_config=None,  # our structlog configuration (redacting) handles uvicorn's records
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
