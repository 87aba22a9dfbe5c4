"""The desk's outcome filter as an indexed table instead of a text column scanned with LIKE.

- `request_system_outcomes` (request_id, system, outcome): one row per system of each request,
  replaced by the store in the transaction that writes the request's row. "Any system failed" and
  "billing retained" become an equality on `(outcome, system)` — an index range — where 0003's
  `requests.system_outcomes` needed `LIKE '%:failed %'`, which no index can serve: every list and
  count with that filter read all requests (PostgreSQL list p95 145 to 174 ms at 100,000 requests).
- Back-filled here from each request's `systems` JSON (the state the store holds), in batches.
- `requests.system_outcomes` and its index are dropped: one source for the filter, not two that
  could drift apart.
- PostgreSQL only: statistics on (outcome, system) together — "retained" is common for billing
  and rare elsewhere, and estimated as independent columns PostgreSQL expected a fifth of the
  "billing retained" rows and fetched and sorted them all instead of walking the list's order —
  and an index in the list's "completed, newest first" order (`completed_at DESC NULLS LAST`),
  which a plain index cannot give PostgreSQL (backwards it is NULLS FIRST). SQLite needs
  neither (its index on completed_at, walked backwards, is that order).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000
_INDEX = "ix_request_system_outcomes_outcome_system_request_id"
_COMPLETED_DESC = "ix_requests_completed_at_desc"
_STATISTICS = "st_request_system_outcomes_outcome_system"

_requests = sa.table(
    "requests",
    sa.column("request_id", sa.Text()),
    sa.column("systems", sa.JSON()),
    sa.column("system_outcomes", sa.Text()),
)
_outcomes = sa.table(
    "request_system_outcomes",
    sa.column("request_id", sa.Text()),
    sa.column("system", sa.String()),
    sa.column("outcome", sa.String()),
)


def _pairs(systems: object) -> dict[str, str]:
    """system -> outcome from a stored `systems` document (kept here, not imported: a migration
    must not change when application code does). One per system, the last one winning, as the
    store writes them."""
    if isinstance(systems, str):
        systems = json.loads(systems)
    return {
        str(s["system"]): str(s.get("outcome") or "pending")
        for s in (systems if isinstance(systems, list) else [])
        if isinstance(s, dict) and s.get("system")
    }


def _batches(conn: sa.Connection) -> Iterator[list[tuple[str, Any]]]:
    """(request_id, systems) in primary-key order, a batch at a time (keyset, so memory stays
    flat on a large store)."""
    after: str | None = None
    while True:
        statement = sa.select(_requests.c.request_id, _requests.c.systems)
        if after is not None:
            statement = statement.where(_requests.c.request_id > after)
        rows = conn.execute(statement.order_by(_requests.c.request_id).limit(_BATCH)).all()
        if not rows:
            return
        yield [(str(r[0]), r[1]) for r in rows]
        after = str(rows[-1][0])


def upgrade() -> None:
    op.create_table(
        "request_system_outcomes",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("request_id", "system", name=op.f("pk_request_system_outcomes")),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    for batch in _batches(conn):
        rows = [
            {"request_id": request_id, "system": system, "outcome": outcome}
            for request_id, systems in batch
            for system, outcome in _pairs(systems).items()
        ]
        if rows:
            conn.execute(sa.insert(_outcomes), rows)
    # After the back-fill: building an index once is cheaper than maintaining it row by row.
    op.create_index(op.f(_INDEX), "request_system_outcomes", ["outcome", "system", "request_id"])
    op.drop_index(op.f("ix_requests_system_outcomes"), table_name="requests")
    with op.batch_alter_table("requests") as batch_op:
        batch_op.drop_column("system_outcomes")
    if conn.dialect.name == "postgresql":
        op.execute(
            f"CREATE STATISTICS {_STATISTICS} (dependencies, mcv) ON outcome, system "
            "FROM request_system_outcomes"
        )
        op.execute("ANALYZE request_system_outcomes")
        op.create_index(
            _COMPLETED_DESC,
            "requests",
            [sa.text("completed_at DESC NULLS LAST"), sa.text("request_id DESC")],
        )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.drop_index(_COMPLETED_DESC, table_name="requests")
        op.execute(f"DROP STATISTICS IF EXISTS {_STATISTICS}")
    with op.batch_alter_table("requests") as batch_op:
        batch_op.add_column(sa.Column("system_outcomes", sa.Text(), nullable=True))
    for batch in _batches(conn):
        for request_id, systems in batch:
            pairs = [f"{system}:{outcome}" for system, outcome in _pairs(systems).items()]
            tokens = " " + " ".join(pairs) + " " if pairs else " "
            conn.execute(
                sa.update(_requests)
                .where(_requests.c.request_id == request_id)
                .values(system_outcomes=tokens)
            )
    op.create_index(op.f("ix_requests_system_outcomes"), "requests", ["system_outcomes"])
    op.drop_index(op.f(_INDEX), table_name="request_system_outcomes")
    op.drop_table("request_system_outcomes")
