"""The desk's ASGI app in this process, for the tests of its edges (no broker, no Temporal, no
`dsr api` process): a store (SQLite here, or any `tests/store` store), one token per role, and a
fake Temporal client whose Updates are recorded and answered (or fail) as a test says.

Why a fake for Temporal here: what these tests pin is what the API does around the front door
(authentication, CSRF, content types, ids, errors of the transport); the decisions themselves
are exercised against real workflows in test_api_decisions.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from orchestrator.api import create_app
from orchestrator.auth import ApiToken, Role, format_api_tokens, hash_token
from orchestrator.dpo import Desk, StuckWorkflow
from orchestrator.settings import Settings
from orchestrator.store import Store
from schemas.workflow import DecisionReceipt

TOKENS = {
    "dpo": "inproc-dpo-token-0123456789abcdef",
    "operator": "inproc-operator-token-0123456789ab",
    "auditor": "inproc-auditor-token-0123456789ab",
}


@dataclass
class Update:
    workflow_id: str
    name: str
    arg: Any
    rpc_timeout: timedelta | None


Answer = Callable[[str], Awaitable[DecisionReceipt]]


async def _accept(workflow_id: str) -> DecisionReceipt:
    return DecisionReceipt(
        request_id=workflow_id.removeprefix("dsr-"), decision="approve", status="in_progress"
    )


@dataclass
class FakeTemporal:
    """Stands in for `Desk.live_status`: no live state (reads come from the store), and a
    client whose `execute_update` records the call and returns `answer(workflow_id)`."""

    answer: Answer = _accept
    updates: list[Update] = field(default_factory=list)
    connect_error: BaseException | None = None
    stuck_workflows: list[StuckWorkflow] = field(default_factory=list)

    async def client(self) -> Any:
        if self.connect_error is not None:
            raise self.connect_error
        return _Client(self)

    async def __call__(self, request_id: str) -> None:
        return None

    async def stuck(self) -> list[StuckWorkflow] | None:
        """What Temporal marks as failing every task: `stuck_workflows`, or None (unreachable)."""
        return None if self.connect_error is not None else list(self.stuck_workflows)


class _Client:
    def __init__(self, fake: FakeTemporal) -> None:
        self._fake = fake

    def get_workflow_handle(self, workflow_id: str, **_: Any) -> _Handle:
        return _Handle(self._fake, workflow_id)


class _Handle:
    def __init__(self, fake: FakeTemporal, workflow_id: str) -> None:
        self._fake, self._id = fake, workflow_id

    async def execute_update(
        self, update: Any, arg: Any, *, rpc_timeout: timedelta | None = None, **_: Any
    ) -> DecisionReceipt:
        name = getattr(update, "__name__", str(update))
        self._fake.updates.append(Update(self._id, name, arg, rpc_timeout))
        return await self._fake.answer(self._id)


async def hang(_: str) -> DecisionReceipt:
    """An Update no worker ever answers."""
    await asyncio.sleep(3600)
    raise AssertionError("unreachable")


def settings_for(database_url: str, **changes: Any) -> Settings:
    configured = [
        ApiToken(name=f"test-{role}", role=Role(role), sha256=hash_token(token))
        for role, token in TOKENS.items()
    ]
    return Settings(database_url=database_url, api_tokens=format_api_tokens(configured), **changes)


def app_for(store: Store, temporal: FakeTemporal | None, settings: Settings) -> FastAPI:
    desk = Desk(store, temporal)  # type: ignore[arg-type]
    app = create_app(settings, desk=desk)
    app.state.desk = desk  # ASGITransport runs no lifespan
    return app


def client(
    app: FastAPI, role: str | None = "dpo", base_url: str = "http://127.0.0.1", **kwargs: Any
) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url=base_url,
        headers=headers,
        **kwargs,
    )


@asynccontextmanager
async def sqlite_store(path: str) -> AsyncIterator[Store]:
    async with await Store.open(f"sqlite+aiosqlite:///{path}") as store:
        yield store
