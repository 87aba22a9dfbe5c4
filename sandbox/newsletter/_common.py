"""Small helpers every route module shares: the engine, and listmonk-style errors."""

from __future__ import annotations

from fastapi import HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from sandbox.newsletter._options import NewsletterOptions

__all__ = ["engine_of", "not_found", "options_of"]


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def options_of(request: Request) -> NewsletterOptions:
    options: NewsletterOptions = request.app.state.options
    return options


def not_found(what: str) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{what} not found")
