"""The DPO desk's latency at 100,000 requests, on SQLite and on PostgreSQL.

    .venv/bin/python bench/dpo_api.py [--requests 100000] [--samples 200]
                                      [--backend sqlite|postgresql|both]

Seeds the store with N requests as the worker leaves them (a summary with five systems, a
completion record for the finished ones, eight hash-chained audit entries each), starts the real
`dsr api` process (uvicorn) against it beside a Temporal dev server, and times over HTTP:

- the filtered list (`GET /api/requests` with the dashboard's usual filters: open, overdue,
  a kind, a failed system, a due-before date, a request id prefix; 50 rows, with the total);
- one request's page (`GET /api/requests/{id}`: summary, completion record, audit timeline;
  finished requests come from the store, open ones ask their workflow first).

Prints p50 and p95 per backend, and each filter's first page (p50 / max); `--explain` adds each
list query's plan (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).
Targets: list p95 <= 150 ms, request page p95 <= 300 ms.
PostgreSQL: DSR_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
a scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg
import httpx
import sqlalchemy as sa

from devstack.localstack import ManagedProcess, free_port, temporal_dev_server, wait_until
from orchestrator.auth import ApiToken, Role, format_api_tokens, generate_token, hash_token
from orchestrator.store import Store
from orchestrator.store._hashing import GENESIS_HASH, chain_hash, entry_document
from orchestrator.store._tables import (
    audit_events,
    completion_records,
    request_system_outcomes,
    requests,
)
from policy.deadlines import deadline
from schemas.events import Channel, RequestKind
from schemas.status import (
    RequestStatus,
    RetainedItem,
    RetentionReason,
    SystemOutcome,
    SystemStatus,
)

SYSTEMS = ("billing", "registrar", "hosting", "newsletter", "support")
NOW = datetime.now(UTC)
PG_URL = os.environ.get("DSR_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 2000
# Audit entries per seeded request (the page reads a request's own; 8 is a five-system run).
AUDIT_PER_REQUEST = int(os.environ.get("DSR_BENCH_AUDIT_PER_REQUEST", "8"))


def _systems(rng: random.Random, kind: RequestKind, status: RequestStatus) -> list[SystemStatus]:
    finished = status is RequestStatus.COMPLETED
    systems = []
    for name in SYSTEMS:
        if not finished:
            outcome = rng.choice(
                [SystemOutcome.PENDING, SystemOutcome.RUNNING, SystemOutcome.DONE]
                + ([SystemOutcome.FAILED] if status is RequestStatus.NEEDS_ATTENTION else [])
            )
        elif kind is RequestKind.ERASURE and name == "billing":
            outcome = SystemOutcome.RETAINED
        else:
            outcome = rng.choice([SystemOutcome.DONE, SystemOutcome.NOT_FOUND])
        retained = (
            [
                RetainedItem(
                    category="invoices",
                    count=rng.randint(1, 12),
                    reason=RetentionReason.BOOKKEEPING,
                    until=datetime(2033, 12, 31).date(),
                    legal_basis="Bokföringslagen 7 kap. 2 §",
                )
            ]
            if outcome is SystemOutcome.RETAINED
            else []
        )
        systems.append(
            SystemStatus(
                system=name,
                outcome=outcome,
                counts={"records": rng.randint(0, 40)},
                retained=retained,
                notified=["se-registry"] if name == "registrar" and finished else [],
            )
        )
    return systems


def _rows(n: int, seed: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Request rows and completion-record rows; the ids of open requests (for the page bench).
    (The per-system outcome rows the store writes with each request: `_outcome_rows`.)"""
    rng = random.Random(seed)
    kinds = list(RequestKind)
    channels = list(Channel)
    statuses = [RequestStatus.COMPLETED] * 8 + [
        RequestStatus.IN_PROGRESS,
        RequestStatus.NEEDS_ATTENTION,
        RequestStatus.AWAITING_DECISION,
        RequestStatus.AWAITING_VERIFICATION,
        RequestStatus.DENIED,
    ]
    request_rows: list[dict[str, Any]] = []
    record_rows: list[dict[str, Any]] = []
    open_ids: list[str] = []
    for i in range(n):
        received = NOW - timedelta(days=730 * (n - i) / n, minutes=rng.randint(0, 600))
        kind = rng.choice(kinds)
        status = rng.choice(statuses)
        due_date, due_at = deadline(received)
        completed = (
            received + timedelta(days=rng.uniform(0.01, 40))
            if status
            in (
                RequestStatus.COMPLETED,
                RequestStatus.DENIED,
            )
            else None
        )
        systems = _systems(rng, kind, status)
        request_id = f"req-{i:07d}"
        request_rows.append(
            {
                "request_id": request_id,
                "kind": kind.value,
                "channel": rng.choice(channels).value,
                "status": status.value,
                "received_at": received,
                "due_at": due_at,
                "due_date": due_date,
                "updated_at": completed or received + timedelta(minutes=5),
                "completed_at": completed if status is RequestStatus.COMPLETED else None,
                "reason": None,
                "systems": [s.model_dump(mode="json") for s in systems],
                "extension": None,
                "reminders": [],
                "decisions": [],
            }
        )
        if completed is not None:
            record_rows.append(
                {
                    "request_id": request_id,
                    "created_at": completed,
                    "record": {
                        "request_id": request_id,
                        "kind": kind.value,
                        "channel": request_rows[-1]["channel"],
                        "status": status.value,
                        "event_id": secrets.token_hex(16),
                        "verification_method": "portal_login",
                        "received_at": received.isoformat(),
                        "due_at": due_at.isoformat(),
                        "completed_at": completed.isoformat(),
                        "workflow_id": f"dsr-{request_id}",
                        "workflow_run_id": secrets.token_hex(16),
                        "systems": [s.model_dump(mode="json") for s in systems],
                    },
                }
            )
        else:
            open_ids.append(request_id)
    return request_rows, record_rows, open_ids


def _outcome_rows(request_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the store writes beside each request row (migration 0005): one row per system."""
    return [
        {"request_id": row["request_id"], "system": s["system"], "outcome": s["outcome"]}
        for row in request_rows
        for s in row["systems"]
    ]


def _audit_rows(request_rows: list[dict[str, Any]], per_request: int) -> list[dict[str, Any]]:
    """Up to eight chained entries per request, in receipt order (one global chain)."""
    rows = []
    previous = GENESIS_HASH
    for row in request_rows:
        entries: list[tuple[str, dict[str, Any]]] = [
            ("request_accepted", {"channel": row["channel"]}),
            ("status_changed", {"status": "in_progress"}),
            *[("system_outcome", {"system": s, "outcome": "done"}) for s in SYSTEMS],
            ("completion_recorded", {"status": row["status"]}),
        ]
        for n, (action, details) in enumerate(entries[:per_request]):
            at = row["received_at"] + timedelta(seconds=n)
            document = entry_document(
                request_id=row["request_id"],
                action=action,
                actor="workflow",
                at=at,
                details=details,
                dedupe_key=f"{row['request_id']}/{n}",
            )
            digest = chain_hash(previous, document)
            rows.append(
                {
                    "request_id": row["request_id"],
                    "action": action,
                    "actor": "workflow",
                    "at": at,
                    "details": details,
                    "dedupe_key": f"{row['request_id']}/{n}",
                    "prev_hash": previous,
                    "hash": digest,
                }
            )
            previous = digest
    return rows


async def seed(database_url: str, n: int) -> list[str]:
    t0 = time.perf_counter()
    request_rows, record_rows, open_ids = _rows(n)
    audit_rows = _audit_rows(request_rows, AUDIT_PER_REQUEST)
    store = await Store.open(database_url)
    try:
        async with store.engine.begin() as conn:
            for table, rows in (
                (requests, request_rows),
                (request_system_outcomes, _outcome_rows(request_rows)),
                (completion_records, record_rows),
                (audit_events, audit_rows),
            ):
                for start in range(0, len(rows), BATCH):
                    await conn.execute(sa.insert(table), rows[start : start + BATCH])
            if store.engine.dialect.name == "sqlite":
                await conn.exec_driver_sql("ANALYZE")
        if store.engine.dialect.name == "postgresql":
            # What autovacuum does to a live table: statistics, and the visibility map that
            # lets counts be index-only scans (VACUUM cannot run inside a transaction).
            autocommit = await store.engine.connect()
            try:
                raw = await autocommit.execution_options(isolation_level="AUTOCOMMIT")
                await raw.exec_driver_sql("VACUUM ANALYZE")
            finally:
                await autocommit.close()
    finally:
        await store.close()
    print(
        f"  seeded {n} requests, {len(record_rows)} completion records, {len(audit_rows)} audit "
        f"entries in {time.perf_counter() - t0:.0f} s"
    )
    return open_ids


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


LIST_QUERIES: list[dict[str, Any]] = [
    {},
    {"open_only": "true", "sort": "due_at", "order": "asc"},
    {"overdue": "true", "sort": "due_at", "order": "asc"},
    {"status": "needs_attention"},
    {"kind": "erasure", "status": "completed"},
    {"system_outcome": "failed"},
    {"system_outcome": "billing:retained", "sort": "completed_at"},
    {"due_before": (NOW + timedelta(days=7)).date().isoformat(), "open_only": "true"},
    {"q": "req-00123"},
    {"channel": "letter", "received_from": (NOW - timedelta(days=90)).date().isoformat()},
]


def _label(query: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in query.items()) or "(no filter)"


def measure(
    base_url: str, token: str, ids: list[str], samples: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Timings per kind (list, next page, request page), and of the first page per filter."""
    rng = random.Random(7)
    timings: dict[str, list[float]] = {"list": [], "list+next page": [], "page": []}
    per_filter: dict[str, list[float]] = {_label(q): [] for q in LIST_QUERIES}
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for query in LIST_QUERIES:  # warm-up: plans, pools, the first Temporal connection
            client.get("/api/requests", params=query).raise_for_status()
        client.get(f"/api/requests/{ids[0]}").raise_for_status()
        for i in range(samples):
            query = LIST_QUERIES[i % len(LIST_QUERIES)]
            t0 = time.perf_counter()
            response = client.get("/api/requests", params={**query, "limit": 50})
            timings["list"].append(time.perf_counter() - t0)
            per_filter[_label(query)].append(timings["list"][-1])
            response.raise_for_status()
            cursor = response.json()["next_cursor"]
            if cursor:
                t0 = time.perf_counter()
                client.get(
                    "/api/requests", params={**query, "limit": 50, "cursor": cursor}
                ).raise_for_status()
                timings["list+next page"].append(time.perf_counter() - t0)
            request_id = rng.choice(ids)
            t0 = time.perf_counter()
            client.get(f"/api/requests/{request_id}").raise_for_status()
            timings["page"].append(time.perf_counter() - t0)
    return timings, per_filter


def _request_query(params: dict[str, Any]) -> Any:
    """The RequestQuery the API builds for these list parameters (`orchestrator.api._filters`)."""
    from datetime import date

    from orchestrator.dpo import SortField, query_from_filters

    def day(name: str) -> date | None:
        return date.fromisoformat(params[name]) if name in params else None

    return query_from_filters(
        status=[RequestStatus(params["status"])] if "status" in params else [],
        kind=[RequestKind(params["kind"])] if "kind" in params else [],
        channel=[Channel(params["channel"])] if "channel" in params else [],
        overdue=True if params.get("overdue") == "true" else None,
        open_only=params.get("open_only") == "true",
        due_before=day("due_before"),
        received_from=day("received_from"),
        system_outcome=params.get("system_outcome"),
        request_id_prefix=params.get("q"),
        sort=SortField(params.get("sort", "received_at")),
        descending=params.get("order", "desc") == "desc",
        limit=50,
        now=NOW,
    )


async def explain_queries(database_url: str) -> None:
    """The plan and the database's own timing of each list query's page and (capped) count, as
    the store sends them (the driver's SQL and bound parameters, captured at the cursor: literal
    values would let SQLite plan differently): EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY
    PLAN plus the timed run on SQLite."""
    from orchestrator.dpo import Desk
    from orchestrator.dpo._read import LIST_COUNT_CAP
    from orchestrator.store._queries import OutcomePlan, build_count, build_select

    store = await Store.open(database_url)
    sent: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:  # before_cursor_execute(conn, cursor, sql, params, ...)
        sent.append((args[2], args[3]))

    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", capture)
    postgres = store.engine.dialect.name == "postgresql"
    try:
        async with store.engine.connect() as conn:
            for params in LIST_QUERIES:
                query = _request_query(params)
                print(f"  EXPLAIN {_label(params)}")
                plans = [query.outcome_plan]
                if query.system_outcome:  # both plans; which the desk picks for page and count
                    page_plan, count_plan = await Desk(store)._plan_outcome(query)
                    plans = list(OutcomePlan)
                    print(
                        f"    the desk picks {page_plan.outcome_plan} for the page, "
                        f"{count_plan.outcome_plan} for the count"
                    )
                for plan in plans:
                    planned = query.model_copy(update={"outcome_plan": plan})
                    suffix = f" ({plan})" if query.system_outcome else ""
                    for what, statement in (
                        (f"page{suffix}", build_select(planned)),
                        (f"count{suffix}", build_count(planned, LIST_COUNT_CAP)),
                    ):
                        sent.clear()
                        t0 = time.perf_counter()
                        await conn.execute(statement)
                        elapsed = (time.perf_counter() - t0) * 1000
                        sql, bound = sent[-1]
                        prefix = (
                            "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
                        )
                        rows = (await conn.exec_driver_sql(prefix + sql, bound)).all()
                        lines = [str(r[0] if postgres else r[-1]) for r in rows]
                        print(f"    {what}: {elapsed:.1f} ms through the driver")
                        for line in lines:
                            print(f"      {line}")
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", capture)
        await store.close()


def run_backend(
    name: str, database_url: str, n: int, samples: int, work: Path, *, explain: bool = False
) -> None:
    print(f"{name}: {database_url.split('@')[-1]}")
    open_ids = asyncio.run(seed(database_url, n))
    ids = [f"req-{i:07d}" for i in random.Random(3).sample(range(n), 400)] + open_ids[:100]
    temporal_port, api_port = free_port(), free_port()
    token = generate_token()
    env = {
        "DSR_ENV_FILE": "/nonexistent/dsr-bench.env",
        "DSR_DATABASE_URL": database_url,
        "DSR_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "DSR_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "DSR_PAYLOAD_KEYS": "bench:" + "A" * 43 + "=",
        "DSR_API_BIND": f"127.0.0.1:{api_port}",
        "DSR_API_TOKENS": format_api_tokens(
            [ApiToken(name="bench", role=Role.AUDITOR, sha256=hash_token(token))]
        ),
        "DSR_LOG_LEVEL": "WARNING",
    }
    temporal = temporal_dev_server(temporal_port, work / f"{name}-temporal.db", work)
    api = ManagedProcess(
        "api", [sys.executable, "-m", "orchestrator.cli", "api"], work / f"{name}-api.log", env
    ).start()
    base_url = f"http://127.0.0.1:{api_port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "dsr api")
        timings, per_filter = measure(base_url, token, ids, samples)
    finally:
        api.stop()
        temporal.stop()
    for label, values in timings.items():
        print(
            f"  {label:<16} p50 {statistics.median(values) * 1000:7.1f} ms   "
            f"p95 {percentile(values, 0.95) * 1000:7.1f} ms   ({len(values)} requests)"
        )
    print("  first page per filter (p50 / max):")
    for label, values in per_filter.items():
        print(
            f"    {statistics.median(values) * 1000:6.1f} / {max(values) * 1000:6.1f} ms  {label}"
        )
    if explain:
        asyncio.run(explain_queries(database_url))


async def _create_pg() -> tuple[str, str]:
    name = f"dsr_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = sa.make_url(PG_URL).set(drivername="postgresql+asyncpg", database=name)
    return name, url.render_as_string(hide_password=False)


async def _drop_pg(name: str) -> None:
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--explain", action="store_true", help="print each list query's plan after the run"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dsr-bench-") as scratch:
        work = Path(scratch)
        if args.backend in ("sqlite", "both"):
            url = f"sqlite+aiosqlite:///{work / 'dsr.db'}"
            run_backend("sqlite", url, args.requests, args.samples, work, explain=args.explain)
        if args.backend in ("postgresql", "both"):
            name, url = asyncio.run(_create_pg())
            try:
                run_backend(
                    "postgresql", url, args.requests, args.samples, work, explain=args.explain
                )
            finally:
                asyncio.run(_drop_pg(name))
    print("targets: list p95 <= 150 ms, request page p95 <= 300 ms")


if __name__ == "__main__":
    main()
