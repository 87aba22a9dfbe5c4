"""The audit trail's verification in the DPO front door: what `GET /api/audit/verify` (and, with
the same rule, `dsr audit verify`) reports.

Why a refusal rather than a quieter report: an auditor who asks for the chain to be checked
against the signed checkpoints and gets `ok` must be able to rely on the checkpoints having been
checked. Without a key to verify their signatures (or without the topic they are published on)
the chain could have been rewritten end to end, hashes recomputed, and still look intact; so the
verification is refused with the reason (`AuditNotVerifiable`), and checking the chain alone is
something the caller asks for explicitly (`checkpoints=False`).
"""

from __future__ import annotations

from orchestrator.audit import (
    AuditKeyError,
    VerificationReport,
    public_key_from_settings,
    read_published_checkpoints,
    verify_chain,
)
from orchestrator.settings import Settings
from orchestrator.store import Store

__all__ = ["NO_CHECKPOINT_KEY", "AuditNotVerifiable", "verify_audit"]

NO_CHECKPOINT_KEY = (
    "no key to check checkpoints with: set DSR_AUDIT_PUBLIC_KEY (or DSR_AUDIT_SIGNING_KEY), "
    "or verify the chain alone (checkpoints=false, `dsr audit verify --no-checkpoints`)"
)


class AuditNotVerifiable(Exception):
    """The verification asked for cannot be done here and now (no key, a malformed key, the
    checkpoint topic unreachable). The message says why; it never holds a key."""


def _kafka_failure(error: BaseException) -> bool:
    return isinstance(error, OSError | TimeoutError) or type(error).__module__.startswith(
        "aiokafka"
    )


async def verify_audit(
    store: Store, settings: Settings, *, checkpoints: bool
) -> VerificationReport:
    """Recompute the chain (globally and per request) and, with `checkpoints`, check it against
    the signed checkpoints on Kafka. `AuditNotVerifiable` when the checkpoints were asked for
    and cannot be checked (see the module's docstring)."""
    public = None
    published: list[bytes] = []
    if checkpoints:
        try:
            public = public_key_from_settings(settings)
        except AuditKeyError as error:
            raise AuditNotVerifiable(str(error)) from None
        if public is None:
            raise AuditNotVerifiable(NO_CHECKPOINT_KEY)
        try:
            published = await read_published_checkpoints(settings)
        except Exception as error:
            if not _kafka_failure(error):
                raise
            raise AuditNotVerifiable(
                f"could not read the checkpoint topic ({type(error).__name__})"
            ) from None
    return await verify_chain(store.iter_audit_rows(), published, public)
