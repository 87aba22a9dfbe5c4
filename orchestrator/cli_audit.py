"""`dsr` commands: The audit trail and the Temporal Web UI's codec server (audit verify, codec-
server).

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.

    dsr audit verify [--json] [--no-checkpoints]   exit 0 intact, 2 broken, 1 could not verify
    dsr audit checkpoint                           sign and publish the chain head now
    dsr audit public-key                           the value auditors set as DSR_AUDIT_PUBLIC_KEY
    dsr codec-server                               the codec server for the Temporal Web UI
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from rich.table import Table

from orchestrator.cli import _fail, _settings, app, console
from orchestrator.settings import InvalidSettings, Settings

audit_app = typer.Typer(help="The audit trail: verify it against signed checkpoints.")
app.add_typer(audit_app, name="audit")

EXIT_BROKEN = 2


async def _verify(settings: Settings, *, checkpoints: bool) -> object:
    """The front door's verification (`orchestrator.dpo.verify_audit`), as the API runs it:
    one rule for when checkpoints cannot be checked."""
    from orchestrator.dpo import verify_audit
    from orchestrator.store import Store

    async with await Store.open(settings.database_url, migrate=False) as store:
        return await verify_audit(store, settings, checkpoints=checkpoints)


@audit_app.command("verify")
def audit_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report.")] = False,
    no_checkpoints: Annotated[
        bool,
        typer.Option(
            "--no-checkpoints",
            help="Only recompute the chain; do not read the signed checkpoints from Kafka.",
        ),
    ] = False,
) -> None:
    """Recompute the audit hash chain (globally and per request) and check it against the
    signed checkpoints published on Kafka. Exit 2 at the first broken link."""
    from orchestrator.audit import AuditKeyError, VerificationReport
    from orchestrator.dpo import AuditNotVerifiable
    from orchestrator.store import StoreError

    settings = _settings()
    checkpoints = not no_checkpoints
    try:
        report = asyncio.run(_verify(settings, checkpoints=checkpoints))
    except (AuditNotVerifiable, AuditKeyError, StoreError, InvalidSettings) as exc:
        raise _fail(str(exc)) from None
    except (OSError, TimeoutError) as exc:
        raise _fail(f"could not read the store or the checkpoint topic: {exc}") from None
    except Exception as exc:
        if type(exc).__module__.startswith("aiokafka"):
            raise _fail(f"could not read the checkpoint topic: {type(exc).__name__}") from None
        raise
    assert isinstance(report, VerificationReport)
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_BROKEN)


def _print_report(report: object) -> None:
    from orchestrator.audit import VerificationReport

    assert isinstance(report, VerificationReport)
    cp = report.checkpoints
    head = report.head
    console.print(
        f"audit chain: {report.entries} entries, {report.requests} requests"
        + (f", head {head.sequence} {head.hash[:16]}…" if head else "")
    )
    if cp.checked:
        latest = cp.latest_head
        console.print(
            f"checkpoints: {cp.valid} valid of {cp.published} published"
            + (f", {cp.rejected} rejected {cp.rejected_reasons}" if cp.rejected else "")
            + f", {cp.links_checked} published links checked"
            + (f", latest head {latest.sequence}" if latest else "")
        )
    else:
        console.print("checkpoints: not checked (--no-checkpoints)")
    if report.ok:
        console.print("[green]intact[/green]")
        return
    first = report.first_break
    assert first is not None
    console.print(
        f"[red bold]BROKEN[/red bold] at position {first.position} (request {first.request_id}"
        + (f", entry {first.request_position} of its trail" if first.request_position else "")
        + f"): {first.kind.value}: {first.reason}"
    )
    table = Table("position", "request", "kind", "reason")
    for item in report.breaks:
        table.add_row(str(item.position), item.request_id or "-", item.kind.value, item.reason)
    console.print(table)
    if report.breaks_total > len(report.breaks):
        console.print(f"… and {report.breaks_total - len(report.breaks)} more")
    console.print(f"{report.requests_broken} requests affected")


@audit_app.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the chain head now and publish it (the workers do this hourly and at completion)."""
    from orchestrator.audit import AuditKeyError, KafkaCheckpointPublisher
    from orchestrator.audit import signing_key_from_settings as signing_key
    from orchestrator.store import Store

    settings = _settings()
    try:
        private = signing_key(settings)
    except AuditKeyError as exc:
        raise _fail(str(exc)) from None
    if private is None:
        raise _fail("DSR_AUDIT_SIGNING_KEY is not set")

    async def publish() -> object:
        async with (
            await Store.open(settings.database_url, migrate=False) as store,
            KafkaCheckpointPublisher(settings, store, private) as publisher,
        ):
            return await publisher.checkpoint_head()

    checkpoint = asyncio.run(publish())
    head = getattr(getattr(checkpoint, "body", None), "head", None)
    console.print(f"published head {head.sequence if head else '(empty chain)'}")


@audit_app.command("public-key")
def audit_public_key() -> None:
    """Print the public key (base64) for auditors' DSR_AUDIT_PUBLIC_KEY."""
    from orchestrator.audit import AuditKeyError, key_id, public_key_b64, public_key_from_settings

    try:
        public = public_key_from_settings(_settings())
    except AuditKeyError as exc:
        raise _fail(str(exc)) from None
    if public is None:
        raise _fail("neither DSR_AUDIT_SIGNING_KEY nor DSR_AUDIT_PUBLIC_KEY is set")
    console.print(f"{public_key_b64(public)}  (key id {key_id(public)})")


@app.command("codec-server")
def codec_server() -> None:
    """Serve Temporal's remote codec protocol for the Web UI (DPO token only, audited)."""
    from orchestrator.auth import InvalidTokenConfig
    from orchestrator.codec_server import run_codec_server

    try:
        run_codec_server(_settings(service=True))
    except InvalidTokenConfig as error:  # DSR_API_TOKENS, in one line as `dsr api` gives it
        raise _fail(str(error), 2) from None
