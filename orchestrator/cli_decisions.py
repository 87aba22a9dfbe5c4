"""`dsr` commands: DPO decisions on one request (confirm-identity, approve, deny, extend, cancel,
resolve, retry, skip, narrow): thin displays over the DPO front door, orchestrator.dpo.

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
"""

from __future__ import annotations

from orchestrator.cli import app  # noqa: F401 - commands register on the shared app
