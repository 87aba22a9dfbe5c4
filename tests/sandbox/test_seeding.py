"""The shared seeding machinery writes exactly what SQLAlchemy would, however the seeders run.

The seeders' fast SQLite path (an INSERT compiled once per table, tuples through the dialect's
bind processors, dates and datetimes formatted without SQLAlchemy's dict) must store the same
text as SQLAlchemy's own executemany; and five seeders fed from one pass of the people generator
(`seed_together`) must write the same databases and home tree as five runs one after another.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Date, DateTime
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

import sandbox._seeding as seeding
from sandbox._seeding import seed_together
from sandbox.billing import seed_billing
from sandbox.hosting import seed_hosting
from sandbox.newsletter import seed_newsletter
from sandbox.registrar import seed_registrar
from sandbox.support import seed_support

SEED = 7
COUNT = 160  # a few blocks of 50: every special slot, more than one batch of 100
SYSTEMS = ("billing", "registrar", "hosting", "newsletter", "support")


def _seeders(root: Path) -> list[Coroutine[Any, Any, BaseModel]]:
    def url(system: str) -> str:
        return f"sqlite:///{root / system}.db"

    return [
        seed_billing(url("billing"), COUNT, SEED, batch_size=100),
        seed_registrar(url("registrar"), COUNT, SEED, batch_size=100),
        seed_hosting(url("hosting"), COUNT, SEED, root / "home", batch_size=100),
        seed_newsletter(url("newsletter"), COUNT, SEED, batch_size=100, blocklist_salt="s"),
        seed_support(url("support"), COUNT, SEED, batch_size=100),
    ]


def _contents(root: Path) -> dict[str, object]:
    """Every table's rows (with their storage types), the schema, and the home tree."""
    found: dict[str, object] = {}
    for system in SYSTEMS:
        with sqlite3.connect(root / f"{system}.db") as conn:
            found[f"{system}:schema"] = conn.execute(
                "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
            ).fetchall()
            tables = [
                n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            for table in tables:
                rows = conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()  # noqa: S608 - names from the schema
                found[f"{system}:{table}"] = [tuple((type(v), v) for v in row) for row in rows]
    for directory, _, names in os.walk(root / "home"):
        for name in names:
            path = Path(directory) / name
            mtime = 0 if name == ".dsr-sandbox-hosting" else int(path.stat().st_mtime)
            found[f"file:{path.relative_to(root)}"] = (path.read_bytes(), mtime)
    return found


def _summaries(summaries: list[BaseModel]) -> list[dict[str, Any]]:
    return [s.model_dump(exclude={"seconds", "database", "home_root"}) for s in summaries]


async def _one_after_another(root: Path) -> list[BaseModel]:
    return [await seeder for seeder in _seeders(root)]


async def test_together_writes_what_one_after_another_writes(tmp_path: Path) -> None:
    apart, together = tmp_path / "apart", tmp_path / "together"
    apart.mkdir()
    together.mkdir()
    first = await _one_after_another(apart)
    second = await seed_together(_seeders(together))
    assert _summaries(first) == _summaries(second)
    assert _contents(apart) == _contents(together)


async def test_the_fast_path_writes_what_sqlalchemy_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, plain = tmp_path / "fast", tmp_path / "plain"
    fast.mkdir()
    plain.mkdir()
    await _one_after_another(fast)
    monkeypatch.setattr(seeding._TupleInsert, "compile", classmethod(lambda *_: None))
    await _one_after_another(plain)
    assert _contents(fast) == _contents(plain)


async def test_seeders_run_together_must_load_the_same_customers(tmp_path: Path) -> None:
    with pytest.raises(ExceptionGroup) as raised:
        await seed_together(
            [
                seed_billing(f"sqlite:///{tmp_path / 'a.db'}", 10, SEED),
                seed_billing(f"sqlite:///{tmp_path / 'b.db'}", 11, SEED),
            ]
        )
    assert raised.group_contains(ValueError, match="same customers")


@pytest.mark.parametrize("column", [DateTime(timezone=True), DateTime(), Date()])
def test_faster_dates_and_datetimes_are_sqlalchemys_text(column: DateTime | Date) -> None:
    dialect = SQLiteDialect_aiosqlite()
    impl = column.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    assert process is not None
    faster = seeding._faster(impl, process)
    assert faster is not process
    moments = [
        datetime(1, 1, 1),
        datetime(987, 6, 5, 4, 3, 2, 1),
        datetime(2026, 11, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(9999, 12, 31, 23, 59, 59),
    ]
    values: list[object] = [None, *moments, *(m.date() for m in moments), date(2024, 2, 29)]
    for value in values * 2:  # twice: the dates' second time comes from the cache
        try:
            expected: object = process(value)
        except TypeError:
            with pytest.raises(TypeError):
                faster(value)
        else:
            assert faster(value) == expected
