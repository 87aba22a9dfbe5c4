"""Legal lifecycle: the deadline day and DPO decisions on each request, and subject fingerprints.

- `requests` gains `due_date` (the statutory deadline day in Europe/Stockholm), `extension`
  (the Art. 12(3) extension, if any), `reminders` (which deadline reminders fired) and
  `decisions` (every DPO decision: what, who, when, why). All nullable: rows written before
  this revision simply have none.
- `subject_fingerprints`: one keyed hash (HMAC-SHA256 with DSR_SUBJECT_HASH_KEY) per normalised
  identifier of a request's subject, so a repeated access/portability request within 12 months
  can be found without ever storing an identifier in clear.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("due_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("extension", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("reminders", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("decisions", sa.JSON(), nullable=True))

    op.create_table(
        "subject_fingerprints",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", "request_id", name=op.f("pk_subject_fingerprints")),
    )
    op.create_index(
        op.f("ix_subject_fingerprints_fingerprint_received_at"),
        "subject_fingerprints",
        ["fingerprint", "received_at"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_subject_fingerprints_fingerprint_received_at"),
        table_name="subject_fingerprints",
    )
    op.drop_table("subject_fingerprints")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("decisions")
        batch.drop_column("reminders")
        batch.drop_column("extension")
        batch.drop_column("due_date")
