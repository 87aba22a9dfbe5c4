"""Restriction lifted (Art. 18): `requests.restriction`, the state of lifting a restriction
request's restriction as the summary (and the portal) shows it — a `RestrictionNotice`
document, NULL while nobody lifts it (every row written before this revision). The per-system
proof is in the completion record's JSON (`restriction_lift`), which needs no column.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("restriction", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("restriction")
