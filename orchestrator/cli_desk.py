"""`dsr` commands: The DPO's reading commands (list, show/status, report): thin displays over
orchestrator.dpo.

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
"""

from __future__ import annotations

from orchestrator.cli import app  # noqa: F401 - commands register on the shared app
