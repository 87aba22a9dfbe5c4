"""`dsr` commands: The retention and deadline policy: check a policy file against the connectors,
show the effective one.

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
"""

from __future__ import annotations

from orchestrator.cli import app  # noqa: F401 - commands register on the shared app
