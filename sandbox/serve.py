"""Run a sandbox system's HTTP server: `python -m sandbox.serve SYSTEM --port N --database-url U`.

Every HTTP sandbox is a real ASGI app under uvicorn, bound to 127.0.0.1, exposing `GET /health`.
Each system's package provides `app.create_app(database_url: str, **options) -> FastAPI`.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

import uvicorn

__all__ = ["HTTP_SYSTEMS", "create_app", "main"]

HTTP_SYSTEMS = ("registrar", "newsletter", "support")


def create_app(system: str, database_url: str, **options: Any) -> Any:
    if system not in HTTP_SYSTEMS:
        raise ValueError(f"unknown HTTP sandbox {system!r}; known: {', '.join(HTTP_SYSTEMS)}")
    module = importlib.import_module(f"sandbox.{system}.app")
    return module.create_app(database_url, **options)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.serve")
    parser.add_argument("system", choices=HTTP_SYSTEMS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        help="system-specific KEY=VALUE (e.g. rate_limit=100, api_token=secret)",
    )
    args = parser.parse_args(argv)
    options = dict(item.split("=", 1) for item in args.option)
    app = create_app(args.system, args.database_url, **options)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
