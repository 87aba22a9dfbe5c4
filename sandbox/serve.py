"""Run a sandbox system's HTTP server: `python -m sandbox.serve SYSTEM --port N --database-url U`.

Every HTTP sandbox is a real ASGI app under uvicorn, bound to 127.0.0.1, exposing `GET /health`.
Each system's package provides `app.create_app(database_url: str, **options) -> FastAPI`.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

import uvicorn

__all__ = ["create_app", "main"]


def create_app(system: str, database_url: str, **options: Any) -> Any:
    """The app of `sandbox/<system>/app.py`: a new sandbox needs no registration here."""
    if not system.isidentifier():
        raise ValueError(f"not a sandbox system name: {system!r}")
    try:
        module = importlib.import_module(f"sandbox.{system}.app")
    except ModuleNotFoundError:
        raise ValueError(f"no HTTP sandbox {system!r} (expected sandbox/{system}/app.py)") from None
    return module.create_app(database_url, **options)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.serve")
    parser.add_argument("system", help="registrar, newsletter, support, …")
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
