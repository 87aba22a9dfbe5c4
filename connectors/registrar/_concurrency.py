"""Independent API calls run concurrently: a locate is several round trips, and waiting for
them one after the other is most of its time.

Unlike `asyncio.TaskGroup`, a failure is raised as it is (not inside an ExceptionGroup): the
workflow tells retryable from permanent errors by their type. The other calls are cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

__all__ = ["run_all", "run_both"]

T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")


async def _settle(tasks: list[asyncio.Future[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_all(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """The results of `calls`, in order; the first failure cancels the rest and is raised."""
    tasks = [asyncio.ensure_future(call) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        await _settle(list(tasks))
        raise


async def run_both(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Two calls of different result types, concurrently (see `run_all`)."""
    one, two = asyncio.ensure_future(first), asyncio.ensure_future(second)
    try:
        return await one, await two
    except BaseException:
        await _settle([one, two])
        raise
