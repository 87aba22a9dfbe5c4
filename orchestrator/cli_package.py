"""`dsr` commands: Access packages (encrypted archives) and crypto-shredding: package show/extract,
shred verify.

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
"""

from __future__ import annotations

from orchestrator.cli import app  # noqa: F401 - commands register on the shared app
