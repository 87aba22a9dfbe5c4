"""`dsr` commands: The audit trail and the Temporal Web UI's codec server (audit verify, codec-
server).

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
"""

from __future__ import annotations

from orchestrator.cli import app  # noqa: F401 - commands register on the shared app
