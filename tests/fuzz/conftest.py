"""The in-process intake fixtures (real handler, real Temporal, DLQ collected in memory)."""

from tests.intake.conftest import intake_client, make_handler

__all__ = ["intake_client", "make_handler"]
