"""Which subject fingerprints are of a personnummer (`subject_fingerprints.identity`): two
requests that share only an e-mail address are not the same subject for the repeat check when
each names a personnummer and they differ (a household's shared address), which the store can
tell only if it knows which of a request's fingerprints are personnummer. NULL for rows written
before this revision: not known, treated as before.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subject_fingerprints") as batch:
        batch.add_column(sa.Column("identity", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subject_fingerprints") as batch:
        batch.drop_column("identity")
