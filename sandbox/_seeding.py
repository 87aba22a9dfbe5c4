"""The machinery the five sandbox seeders share: connecting, recreating a schema, batched loading.

Each system's `seed.py` decides what rows a generated customer becomes and which subjects make
good examples; how those rows reach the database is the same for all of them, and lives here so
that a fix to it (a pragma, the index build, PostgreSQL's sequences) is made once:

- `with_async_driver` / `async_database_url`: a database URL with its asyncio driver.
- `fresh_database`: an engine and connection, with the schema dropped and created again
  (SQLite tuned for a bulk load: WAL, no fsync, a large page cache); `finish_load` builds the
  indexes after the load, moves PostgreSQL's sequences past explicitly given ids, and analyses
  the tables.
- `BatchLoader`: rows buffered per table and written parent-first with executemany, batch by
  batch, with progress callbacks, so a million customers never sit in memory. On SQLite the
  INSERT is compiled once per table and fed plain tuples made with the dialect's own bind
  processors (the same values SQLAlchemy would write, without its per-row parameter work).
- `seed_together`: several seeders of the same customers fed from one pass of the people
  generator (the customers are generated once, not once per system).
- `PairCollector` and friends: the bookkeeping for example subjects (pairs of rows that belong
  together, per-category totals, a customer's identifiers).
"""

from __future__ import annotations

import asyncio
import gc
import operator
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import Any, Generic, TypedDict, TypeVar

from sqlalchemy import Connection, MetaData, Table, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.schema import CreateTable

from sandbox.people import Customer, generate_customers

__all__ = [
    "SQLITE_OR_POSTGRESQL",
    "BatchLoader",
    "Identifiers",
    "PairCollector",
    "Progress",
    "add_counts",
    "async_database_url",
    "connect",
    "customer_identifiers",
    "elapsed",
    "finish_load",
    "fresh_database",
    "pair_label",
    "reset_sequences",
    "seed_together",
    "with_async_driver",
]

Progress = Callable[[int], None]
Item = TypeVar("Item")
Example = TypeVar("Example")
Result = TypeVar("Result")

# backend name -> asyncio driver of the seeders that run on SQLite or PostgreSQL.
SQLITE_OR_POSTGRESQL: Mapping[str, str] = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


def with_async_driver(database_url: str | URL, drivers: Mapping[str, str]) -> URL:
    """The URL with the asyncio driver `drivers` names for its backend (others left as given)."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    driver = drivers.get(backend)
    if driver is not None and url.get_driver_name() != driver:
        url = url.set(drivername=f"{backend}+{driver}")
    return url


def async_database_url(database_url: str | URL) -> URL:
    """`sqlite://` and `postgresql://` URLs with their asyncio drivers (aiosqlite, asyncpg)."""
    return with_async_driver(database_url, SQLITE_OR_POSTGRESQL)


def elapsed(started: float) -> float:
    """Seconds since `started` (a `time.perf_counter()` reading), as a summary reports them."""
    return round(time.perf_counter() - started, 3)


@asynccontextmanager
async def fresh_database(url: URL, metadata: MetaData) -> AsyncIterator[AsyncConnection]:
    """A connection to `url` with `metadata`'s schema dropped and created again (committed).

    SQLite is tuned for the bulk load (`_SQLITE_BULK_LOAD`); the engine is disposed of on the
    way out.
    """
    async with connect(url) as conn:
        if url.get_backend_name() == "sqlite":
            for pragma in _SQLITE_BULK_LOAD:
                await conn.exec_driver_sql(pragma)
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(_create_tables, metadata)
        await conn.commit()
        yield conn


# WAL, which the file keeps for the servers and connectors reading it (and which lets a reseed
# run while they hold it open); then, for this connection only: no fsync (a failed load is
# seeded again from scratch), 256 MiB of page cache and in-memory temporary storage for the
# index sorts after the load. (No journal at all measured no faster than WAL here.)
_SQLITE_BULK_LOAD = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=OFF",
    "PRAGMA cache_size=-262144",
    "PRAGMA temp_store=MEMORY",
)


@asynccontextmanager
async def connect(url: URL) -> AsyncIterator[AsyncConnection]:
    """A connection to `url` (parameters kept out of error messages); the engine is disposed of
    on the way out."""
    engine = create_async_engine(url, hide_parameters=True)
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


async def finish_load(
    conn: AsyncConnection,
    metadata: MetaData,
    *,
    serials: Iterable[Table] = (),
    analyze: Sequence[Table] = (),
) -> None:
    """After the load: build the indexes, move PostgreSQL's sequences of `serials` (whose ids
    were given explicitly) past the largest id, and analyse (MariaDB/MySQL: the `analyze`
    tables)."""
    await conn.run_sync(_create_indexes, metadata)
    if conn.dialect.name == "postgresql":
        await reset_sequences(conn, serials)
    await conn.commit()
    if conn.dialect.name in ("mysql", "mariadb"):
        names = ", ".join(f"`{t.name}`" for t in analyze)
        await conn.exec_driver_sql(f"ANALYZE TABLE {names}")
    else:
        await conn.exec_driver_sql("ANALYZE")
    await conn.commit()


async def reset_sequences(conn: AsyncConnection, tables: Iterable[Table]) -> None:
    """PostgreSQL: ids were given explicitly, so move each serial past the largest one."""
    for table in tables:
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608 - fixed names
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"
            )
        )


def _create_tables(conn: Connection, metadata: MetaData) -> None:
    for table in metadata.sorted_tables:
        conn.execute(CreateTable(table))


def _create_indexes(conn: Connection, metadata: MetaData) -> None:
    for table in metadata.sorted_tables:
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            index.create(conn)


class BatchLoader:
    """Buffers rows per table (`self.rows[name]`) and writes them in the order of `tables`
    (parents before children) with executemany, adding what it wrote to `counts`."""

    def __init__(
        self,
        conn: AsyncConnection,
        tables: Sequence[Table],
        batch_size: int,
        counts: dict[str, int],
    ) -> None:
        self._conn = conn
        self._tables = tuple(tables)
        self._batch_size = max(1, batch_size)
        self._counts = counts
        self.rows: dict[str, list[dict[str, Any]]] = {t.name: [] for t in self._tables}
        self._sqlite = conn.dialect.name == "sqlite"
        self._inserts: dict[tuple[str, tuple[str, ...]], _TupleInsert | None] = {}

    def should_flush(self) -> bool:
        return any(len(rows) >= self._batch_size for rows in self.rows.values())

    async def flush(self) -> None:
        for table in self._tables:  # parents before children
            rows = self.rows[table.name]
            if rows:
                await self._insert(table, rows)
                self._counts[table.name] += len(rows)
                self.rows[table.name] = []
        await self._conn.commit()

    async def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        insert = None
        if self._sqlite:
            keys = tuple(rows[0])
            cache_key = (table.name, keys)
            if cache_key not in self._inserts:
                self._inserts[cache_key] = _TupleInsert.compile(table, keys, self._conn.dialect)
            insert = self._inserts[cache_key]
        if insert is None:
            await self._conn.execute(table.insert(), rows)
        else:
            await self._conn.exec_driver_sql(insert.sql, insert.parameters(rows))

    async def load_customers(
        self,
        customers: int,
        seed: int,
        add: Callable[[Customer], object],
        progress: Progress | None = None,
    ) -> None:
        """`add(customer)` (which buffers the customer's rows) for each of the `customers`
        generated customers, flushing whenever a table's batch is full; `progress(n)` is called
        with the number of customers done after every batch. Under `seed_together`, the
        customers are generated once for all the seeders loading together."""
        shared = _SHARED.get()
        if shared is None:
            await _load([(self, add, progress)], customers, seed)
        else:
            await shared.load(self, customers, seed, add, progress)


_Load = tuple[BatchLoader, Callable[[Customer], object], Progress | None]


async def _load(loads: Sequence[_Load], customers: int, seed: int) -> None:
    """Each generated customer to every load's `add` in turn, each loader flushing its own full
    batches (awaited one at a time: the rows of one database are written while nothing else
    runs, so no thread waits for the interpreter)."""
    with _cyclic_gc_paused():
        for customer in generate_customers(customers, seed):
            for loader, add, progress in loads:
                add(customer)
                if loader.should_flush():
                    await loader.flush()
                    if progress is not None:
                        progress(customer.index + 1)
        for loader, _, _ in loads:
            await loader.flush()
    for _, _, progress in loads:
        if progress is not None:
            progress(customers)


async def seed_together(seeders: Sequence[Coroutine[Any, Any, Result]]) -> list[Result]:
    """Run seeders (`seed_billing(...)`, `seed_hosting(...)`, ... of the same customers and
    seed, each loading its customers once) with one pass of the people generator: every
    customer is generated once and handed to each seeder's loader in turn. The databases are
    the same as seeding them one after another, less a people generation per extra system.
    Their summaries, in order; the first failure cancels the rest."""
    token = _SHARED.set(_SharedCustomers(len(seeders)))
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(seeder) for seeder in seeders]
    finally:
        _SHARED.reset(token)
    return [task.result() for task in tasks]


class _SharedCustomers:
    """The rendezvous of `seed_together`: every seeder's `load_customers` joins, and the last
    one to join runs the load for all while the others wait for it."""

    def __init__(self, seeders: int) -> None:
        self._seeders = seeders
        self._loads: list[_Load] = []
        self._plan: tuple[int, int] | None = None
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def load(
        self,
        loader: BatchLoader,
        customers: int,
        seed: int,
        add: Callable[[Customer], object],
        progress: Progress | None,
    ) -> None:
        if self._plan is None:
            self._plan = (customers, seed)
        elif self._plan != (customers, seed):
            raise ValueError("seeders run together must load the same customers and seed")
        self._loads.append((loader, add, progress))
        if len(self._loads) > self._seeders:
            raise RuntimeError("a seeder run together loaded its customers twice")
        if len(self._loads) < self._seeders:
            await self._done
            return
        await _load(self._loads, customers, seed)
        self._done.set_result(None)


_SHARED: ContextVar[_SharedCustomers | None] = ContextVar("sandbox_seed_together", default=None)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the load: the generated records, rows and tuples
    hold no reference cycles (reference counting frees them), and the collector's passes over
    the millions of them allocated were a tenth of a load's CPU."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _TupleInsert:
    """An INSERT of a fixed set of columns compiled once for a positional dialect (SQLite), and
    the column order and bind processors to turn row dicts into its parameter tuples."""

    def __init__(
        self, sql: str, keys: Sequence[str], processors: Sequence[tuple[int, Callable[..., Any]]]
    ) -> None:
        self.sql = sql
        self._values = operator.itemgetter(*keys)
        self._single = len(keys) == 1
        self._processors = tuple(processors)

    @classmethod
    def compile(cls, table: Table, keys: Sequence[str], dialect: Dialect) -> _TupleInsert | None:
        """None when SQLAlchemy would add anything of its own (a Python-side default for a
        column missing from the rows): then the rows go through `execute` as they are."""
        compiled = table.insert().compile(dialect=dialect, column_keys=list(keys))
        order = compiled.positiontup
        if (
            order is None
            or compiled.insert_prefetch
            or compiled.postfetch
            or sorted(order) != sorted(keys)
        ):
            return None
        processors = []
        for position, key in enumerate(order):
            impl = table.c[key].type.dialect_impl(dialect)
            process = impl.bind_processor(dialect)
            if process is not None:
                processors.append((position, _faster(impl, process)))
        return cls(str(compiled), order, processors)

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """Every row's values in the statement's order, through the columns' bind processors
        (as SQLAlchemy's own executemany would pass them to the driver)."""
        if self._single:
            values: list[tuple[Any, ...]] = [(self._values(row),) for row in rows]
        else:
            values = list(map(self._values, rows))
        if not self._processors:
            return values
        columns: list[tuple[Any, ...]] = list(zip(*values, strict=True))
        for position, process in self._processors:
            columns[position] = tuple(map(process, columns[position]))
        return list(zip(*columns, strict=True))


# SQLite's DATETIME and DATE store zero-padded 'YYYY-MM-DD HH:MM:SS.ffffff' and 'YYYY-MM-DD'
# (the fields as they are, any time zone left out). SQLAlchemy formats a dict of the fields per
# value — a tenth of a bulk load's CPU — where a tuple does (a third of the time; `isoformat` is
# slower still), and the few thousand distinct days of the date columns are formatted once.
_DATETIME_TEXT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
_DATETIME_PROBES = (datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(987, 6, 5, 4, 3, 2))
_DATE_PROBES = (date(2026, 1, 2), date(987, 6, 5))
_DATE_TEXTS_KEPT = 1 << 16


class _DateTexts(dict[date, Any]):
    """SQLAlchemy's text of each plain date, made on first sight (other values: every time)."""

    def __init__(self, process: Callable[[Any], Any]) -> None:
        super().__init__()
        self._process = process

    def __missing__(self, value: Any) -> Any:
        text = self._process(value)
        if type(value) is date and len(self) < _DATE_TEXTS_KEPT:
            self[value] = text
        return text


def _faster(impl: Any, process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process` (SQLAlchemy's bind processor for `impl`), or the same text made faster for the
    plain datetimes and dates of SQLite's default storage formats (checked on probes)."""
    if isinstance(impl, sqlite.DATETIME):

        def datetime_text(value: Any) -> Any:
            if type(value) is datetime:
                return _DATETIME_TEXT % (
                    value.year,
                    value.month,
                    value.day,
                    value.hour,
                    value.minute,
                    value.second,
                    value.microsecond,
                )
            return process(value)

        if all(datetime_text(probe) == process(probe) for probe in _DATETIME_PROBES):
            return datetime_text
    elif isinstance(impl, sqlite.DATE):
        texts = _DateTexts(process)
        if all(texts[probe] == process(probe) for probe in _DATE_PROBES):
            return texts.__getitem__
    return process


class PairCollector(Generic[Item, Example]):
    """Remembers the first example of each label (`found`), and holds the first row of a special
    pair (two e-mail addresses, a shared one) until its partner comes."""

    def __init__(self) -> None:
        self.found: dict[str, Example] = {}
        self._pending: dict[int, Item] = {}

    def pair(self, customer: Customer, item: Item) -> list[Item] | None:
        """Both rows of `customer`'s pair once its partner has been seen, else None (kept)."""
        partner = None
        if customer.partner_index is not None:
            partner = self._pending.pop(customer.partner_index, None)
        if partner is None:
            self._pending[customer.index] = item
            return None
        return [partner, item]


def pair_label(customer: Customer) -> str:
    """The example label of a special pair's customer."""
    return "two_email_person" if customer.special == "two_emails" else "shared_email_pair"


def add_counts(categories: Iterable[str], counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Per-category totals of several rows' counts (every category present, zero if unseen)."""
    totals = dict.fromkeys(categories, 0)
    for row in counts:
        for category, count in row.items():
            totals[category] += count
    return totals


class Identifiers(TypedDict):
    customer_numbers: list[str]
    names: list[str]
    emails: list[str]
    phones: list[str]
    personal_identity_numbers: list[str]
    organisation_numbers: list[str]


def customer_identifiers(people: Sequence[Customer]) -> Identifiers:
    """What a subject is searched by, taken from its customer rows (duplicates dropped)."""
    return {
        "customer_numbers": [c.customer_number for c in people],
        "names": list(dict.fromkeys(c.contact_name or c.name for c in people)),
        "emails": list(dict.fromkeys(c.email for c in people)),
        "phones": list(dict.fromkeys(c.phone for c in people)),
        "personal_identity_numbers": list(
            dict.fromkeys(c.personal_identity_number for c in people if c.personal_identity_number)
        ),
        "organisation_numbers": list(
            dict.fromkeys(c.organisation_number for c in people if c.organisation_number)
        ),
    }
