"""The DPO's desk over HTTP: a JSON API (OpenAPI at /api/openapi.json) and a server-rendered
dashboard, both thin layers over the DPO front door (`orchestrator.dpo`). `dsr api` serves it."""

from __future__ import annotations

from orchestrator.api._app import create_app
from orchestrator.api._serve import parse_bind, serve

__all__ = ["create_app", "parse_bind", "serve"]
