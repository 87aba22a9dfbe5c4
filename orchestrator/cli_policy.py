"""`dsr policy check [FILE]` and `dsr policy show`: the policy as data (policy/default.yaml, or
the file DSR_POLICY_FILE names) checked against the registered connectors, and printed.

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from orchestrator.cli import _fail, _settings, app, console
from policy.check import policy_problems
from policy.loader import DEFAULT_POLICY_FILE, load_policy
from policy.model import Policy, PolicyError

policy_app = typer.Typer(help="The privacy policy as data: retention, erasure, recipients.")
app.add_typer(policy_app, name="policy")


def _load(path: Path | None) -> tuple[Policy, Path]:
    source = path or _settings().policy_file or DEFAULT_POLICY_FILE
    try:
        return load_policy(source), source
    except PolicyError as error:
        raise _fail(str(error)) from None


@policy_app.command("check")
def policy_check(
    file: Annotated[
        Path | None, typer.Argument(help="Policy file (default: DSR_POLICY_FILE, else shipped).")
    ] = None,
) -> None:
    """Validate a policy against the registered connectors; non-zero exit listing problems."""
    from orchestrator.settings import configured_connector_classes

    policy, source = _load(file)
    settings = _settings()
    declared = {
        name: [c.name for c in cls.categories]
        for name, cls in configured_connector_classes(settings).items()
    }
    problems = policy_problems(policy, declared)
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/red] {escape(problem)}", soft_wrap=True)
        raise _fail(f"{len(problems)} problem(s) in {source}")
    console.print(
        f"[green]✓[/green] {source}: policy {policy.version} covers {len(declared)} connectors "
        f"({sum(len(c) for c in declared.values())} categories)"
    )


@policy_app.command("show")
def policy_show(
    as_json: Annotated[bool, typer.Option("--json", help="The policy as JSON.")] = False,
    locale: Annotated[str, typer.Option(help="Language of the texts: sv or en.")] = "en",
) -> None:
    """The effective policy: per system and category, basis, retention, erasure, recipients."""
    policy, source = _load(None)
    if as_json:
        typer.echo(json.dumps(policy.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    console.print(f"policy {policy.version} ({source}, sha256 {policy.digest[:16]}…)")
    table = Table(
        "system", "category", "legal basis", "retention", "erasure", "portable", "recipients"
    )
    for system, rules in policy.systems.items():
        for name, category in rules.categories.items():
            retention = category.retention
            kept = retention.kind.value
            if retention.years:
                kept += f" {retention.years} y"
            if retention.months:
                kept += f" {retention.months} mo"
            table.add_row(
                system,
                name,
                category.legal_basis.value,
                kept,
                category.erasure.value,
                "yes" if category.portable else "no",
                ", ".join(category.recipients),
            )
    console.print(table)
    console.print(escape(policy.rights.text(locale)), soft_wrap=True)
