"""At rest: per-request data keys (crypto-shredding) and encrypted access packages.

- `data_keys`: one AES-256 data key per request, wrapped (AES-256-GCM) by the first master key
  of DSR_PAYLOAD_KEYS; the payload codec encrypts the request's Temporal payloads and its
  package with it. Destroying a key sets `wrapped_key` to NULL: everything sealed with it is
  unreadable from then on. `retain_until` is the earliest moment it may be destroyed.
- `requests.package`: the package reference and expiry of the request's summary (JSON).
- `packages`: the request's encrypted archive (where it is, its size and ciphertext digest,
  how many files) and its expiry; `deleted_at` once the expiry deleted it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("package", sa.JSON(), nullable=True))
    op.create_table(
        "data_keys",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("master_key_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_data_keys")),
    )
    op.create_table(
        "packages",
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_packages")),
    )
    op.create_index(op.f("ix_packages_expires_at"), "packages", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_packages_expires_at"), table_name="packages")
    op.drop_table("packages")
    op.drop_table("data_keys")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("package")
