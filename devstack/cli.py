"""`dsr` with the local stack's commands: `dsr up` and `dsr sandbox seed`.

The orchestrator's CLI knows nothing of the sandbox systems (imports flow one way); this module,
the console script's entry point, adds the commands that need them to the same Typer app.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli import _fail, _settings, app, console
from orchestrator.cli import main as orchestrator_main

__all__ = ["main"]

sandbox_app = typer.Typer(help="The sandbox copies of the internal systems.")
app.add_typer(sandbox_app, name="sandbox")


@app.command()
def up(
    state_dir: Annotated[Path, typer.Option(help="Where the local stack keeps its files.")] = Path(
        ".state"
    ),
    customers: Annotated[int, typer.Option(help="Sandbox customers to seed on first start.")] = 200,
    port: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=PORT instead of the documented port (repeatable; also DSR_UP_PORTS), "
            "NAME one of kafka, broker-storage, temporal, temporal-ui, registrar, newsletter, "
            "support, api, codec."
        ),
    ] = None,
) -> None:
    """Run the whole local stack in the foreground until Ctrl-C or SIGTERM (stops every child)."""
    from devstack.up import parse_port_overrides, run_local_stack

    try:
        overrides = parse_port_overrides(port or [])
    except ValueError as error:
        raise _fail(str(error), 2) from None
    raise typer.Exit(run_local_stack(state_dir, customers, overrides))


@sandbox_app.command("seed")
def sandbox_seed(
    customers: Annotated[int, typer.Option()] = 200,
    seed: Annotated[int, typer.Option()] = 1,
    state_dir: Annotated[Path, typer.Option(help="The local stack's folder.")] = Path(".state"),
) -> None:
    """(Re)create the five sandbox systems with deterministic, realistic Swedish data
    (stop `dsr up` first: its servers hold the databases open)."""
    from devstack.up import local_estate, seed_sandbox

    _settings()
    summaries = asyncio.run(seed_sandbox(local_estate(state_dir.resolve()), customers, seed))
    for system, summary in summaries.items():
        counts = getattr(summary, "counts", {})
        console.print(f"{system}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def main() -> None:
    """The `dsr` console script: the orchestrator's `main` (one-line errors for bad settings)
    with this module's commands registered on the same app."""
    orchestrator_main()


if __name__ == "__main__":
    main()
