"""The DPO's desk: what the request list filters and sorts on, indexed.

- `requests.system_outcomes`: the per-system outcomes as space-delimited `system:outcome` tokens
  (` billing:done hosting:failed `), so "any system failed" or "billing retained" is one
  `LIKE` on both SQLite and PostgreSQL instead of a JSON query per dialect. Written by the store
  on every upsert; rows stored before this revision are back-filled here from `systems`.
- Indexes for the desk's filters with the default newest-first order (kind / channel / status
  with `received_at`), the deadline views (`status, due_at`), the report's completion times, and
  covering indexes for counting by outcome and by kind and status.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = {
    "ix_requests_kind_received_at": ["kind", "received_at"],
    "ix_requests_channel_received_at": ["channel", "received_at"],
    "ix_requests_status_due_at": ["status", "due_at"],
    "ix_requests_completed_at": ["completed_at"],
    # Covering indexes: counting "any system failed" or "erasures completed" scans these few
    # bytes per request instead of every row with its JSON (a 100,000-request store: see bench).
    "ix_requests_system_outcomes": ["system_outcomes"],
    "ix_requests_kind_status_received_at": ["kind", "status", "received_at"],
}


def _tokens(systems: object) -> str:
    """The same encoding as orchestrator.store._queries.outcome_tokens (kept here verbatim: a
    migration must not change when application code does)."""
    if isinstance(systems, str):
        systems = json.loads(systems)
    pairs = [
        f"{s.get('system')}:{s.get('outcome', 'pending')}"
        for s in (systems if isinstance(systems, list) else [])
        if isinstance(s, dict)
    ]
    return " " + " ".join(pairs) + " " if pairs else " "


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("system_outcomes", sa.Text(), nullable=True))
    table = sa.table(
        "requests",
        sa.column("request_id", sa.Text()),
        sa.column("systems", sa.JSON()),
        sa.column("system_outcomes", sa.Text()),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(table.c.request_id, table.c.systems)).all()
    for request_id, systems in rows:
        conn.execute(
            sa.update(table)
            .where(table.c.request_id == request_id)
            .values(system_outcomes=_tokens(systems))
        )
    for name, columns in _INDEXES.items():
        op.create_index(op.f(name), "requests", columns)


def downgrade() -> None:
    for name in reversed(list(_INDEXES)):
        op.drop_index(op.f(name), table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("system_outcomes")
