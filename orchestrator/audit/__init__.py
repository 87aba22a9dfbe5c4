"""An audit trail that proves itself to someone who does not trust the database.

The store hash-chains every audit entry (`orchestrator.store._hashing`). This package signs the
chain's head with Ed25519 (`DSR_AUDIT_SIGNING_KEY`, never in the database) at every completion
and periodically, publishes the signed heads on `dsr.audit-checkpoints.v1`, and verifies the
chain against itself and against those checkpoints (`dsr audit verify`).
"""

from __future__ import annotations

from orchestrator.audit._checkpoint import (
    ChainHead,
    ChainLink,
    CheckpointBody,
    CheckpointKind,
    CheckpointRejected,
    SignedCheckpoint,
    open_checkpoint,
    seal_checkpoint,
)
from orchestrator.audit._kafka import (
    KafkaCheckpointPublisher,
    read_published_checkpoints,
    run_periodic_checkpoints,
)
from orchestrator.audit._keys import (
    AuditKeyError,
    generate_signing_key,
    key_id,
    public_key_b64,
    public_key_from_settings,
    signing_key_from_settings,
)
from orchestrator.audit._verify import (
    BreakKind,
    ChainBreak,
    CheckpointSummary,
    VerificationReport,
    verify_chain,
)
from orchestrator.audit._worker import CheckpointOnCompletion, audit_checkpoints

__all__ = [
    "AuditKeyError",
    "BreakKind",
    "ChainBreak",
    "ChainHead",
    "ChainLink",
    "CheckpointBody",
    "CheckpointKind",
    "CheckpointOnCompletion",
    "CheckpointRejected",
    "CheckpointSummary",
    "KafkaCheckpointPublisher",
    "SignedCheckpoint",
    "VerificationReport",
    "audit_checkpoints",
    "generate_signing_key",
    "key_id",
    "open_checkpoint",
    "public_key_b64",
    "public_key_from_settings",
    "read_published_checkpoints",
    "run_periodic_checkpoints",
    "seal_checkpoint",
    "signing_key_from_settings",
    "verify_chain",
]
