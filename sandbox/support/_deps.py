"""Request dependencies: the database engine and the API token check.

They are coroutines although they do no I/O: FastAPI runs plain functions in its thread pool,
a hop per dependency per request that costs more than the work.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine as SqlEngine

from sandbox.support._errors import ApiError

__all__ = ["Engine", "get_engine", "require_token"]


async def get_engine(request: Request) -> SqlEngine:
    engine: SqlEngine = request.app.state.engine
    return engine


# A route parameter `engine: Engine` receives the app's database engine.
Engine = Annotated[SqlEngine, Depends(get_engine)]


async def require_token(request: Request) -> None:
    """`Authorization: Bearer <api_token>`, compared in constant time; else 401 as Zendesk."""
    expected: str = request.app.state.api_token
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise ApiError(401, "Couldn't authenticate you", "Invalid or missing API token")
