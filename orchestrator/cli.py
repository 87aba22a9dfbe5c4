"""`dsr`: the operator's command line. Operators submit requests received by e-mail, letter or
phone exactly as the portal would (a signed event on Kafka), and follow them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from orchestrator.intake._validation import safe_validation_detail
from orchestrator.logging import configure_logging
from orchestrator.settings import InvalidSettings, Settings, get_settings
from schemas.events import (
    REQUESTED_TYPE,
    Channel,
    DsrRequestedEvent,
    RequestKind,
    VerificationMethod,
)

app = typer.Typer(help="GDPR data-subject requests: submit, follow, operate.", no_args_is_help=True)
schema_app = typer.Typer(help="Event contract (JSON Schema) for the portal team.")
app.add_typer(schema_app, name="schema")
console = Console()
err = Console(stderr=True)


def _settings(*, service: bool = False) -> Settings:
    """Settings, and logging: services log at DSR_LOG_LEVEL; commands for people only warn.
    A bad setting ends the command with one line naming the variable (never its value)."""
    try:
        settings = get_settings()
        if service:  # services fail fast on connection settings that cannot work
            from orchestrator.kafka_config import kafka_security

            kafka_security(settings)
    except InvalidSettings as error:
        raise _fail(str(error), 2) from None
    level = settings.log_level if service else "WARNING"
    configure_logging(level, settings.log_format if service else "console")
    if not service:
        # A command for a person reports an unreachable broker itself, in one line (`main`);
        # aiokafka's own error line about each failed connection would only repeat it.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    return settings


def _actor(value: str) -> str:
    """The `--actor` of a command the audit trail records (reading a dead letter, re-driving
    it, destroying a data key): someone, never blank — as the workflow requires of decisions."""
    if not value.strip():
        raise typer.BadParameter("who acts must be named (recorded in the audit trail)")
    return value.strip()


def _fail(message: str, code: int = 1) -> typer.Exit:
    """`error: <message>` on stderr, one line whatever the width. The message is plain text,
    never markup: it often quotes input (a request id, a validator's words), and `[/x]` in it
    crashed the command with Rich's MarkupError."""
    err.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True)
    return typer.Exit(code)


# ── run the services ──────────────────────────────────────────────────────────────────────
@app.command()
def worker(
    connector: Annotated[
        list[str] | None, typer.Option(help="Serve only these connector queues (repeatable).")
    ] = None,
    no_orchestrator: Annotated[
        bool, typer.Option(help="Do not serve the workflow/orchestrator queue.")
    ] = False,
    no_connectors: Annotated[bool, typer.Option(help="Serve no connector queues.")] = False,
) -> None:
    """Run Temporal workers: the workflow queue and one queue per connector."""
    from orchestrator.worker import WorkerFailed, run_workers

    settings = _settings(service=True)
    try:
        asyncio.run(
            run_workers(
                settings,
                orchestrator=not no_orchestrator,
                connectors=[] if no_connectors else connector,
            )
        )
    except WorkerFailed as error:
        raise _fail(str(error)) from None


@app.command()
def intake() -> None:
    """Run the faust intake agent on the requests topic."""
    from orchestrator.intake.app import IntakeFailed, run_intake

    try:
        run_intake(_settings(service=True))
    except IntakeFailed as error:
        raise _fail(str(error)) from None


# ── submit ────────────────────────────────────────────────────────────────────────────────
def _build_event(
    *,
    request_id: str,
    kind: RequestKind,
    channel: Channel,
    subject: dict[str, Any],
    verification: VerificationMethod,
    received_at: datetime,
    changes: list[str],
    systems: list[str],
) -> DsrRequestedEvent:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "request_id": request_id,
        "kind": kind.value,
        "received_at": received_at.isoformat(),
        "channel": channel.value,
        "subject": subject,
        "verification": {
            "method": verification.value,
            "verified_at": None if verification is VerificationMethod.NONE else now.isoformat(),
        },
    }
    if changes:
        pairs = [c.split("=", 1) for c in changes]
        if any(len(p) != 2 for p in pairs):
            raise ValueError("--change takes field=value")
        data["rectification"] = {"changes": [{"field": f, "value": v} for f, v in pairs]}
    if systems:
        data["scope"] = {"systems": systems}
    return DsrRequestedEvent.model_validate(
        {
            "specversion": "1.0",
            "id": secrets.token_hex(16),
            "source": f"urn:dsr-cli:{channel.value}",
            "type": REQUESTED_TYPE,
            "time": now.isoformat(),
            "datacontenttype": "application/json",
            "data": data,
        }
    )


@app.command()
def submit(
    kind: Annotated[RequestKind, typer.Option(help="What the subject asks for.")],
    email: Annotated[str | None, typer.Option()] = None,
    customer_number: Annotated[str | None, typer.Option()] = None,
    personal_identity_number: Annotated[
        str | None, typer.Option("--personal-identity-number", "--pnr")
    ] = None,
    organisation_number: Annotated[str | None, typer.Option()] = None,
    phone: Annotated[str | None, typer.Option()] = None,
    name: Annotated[str | None, typer.Option()] = None,
    domain: Annotated[list[str] | None, typer.Option(help="Repeatable.")] = None,
    channel: Annotated[Channel, typer.Option(help="How the request reached us.")] = Channel.EMAIL,
    verification: Annotated[
        VerificationMethod, typer.Option(help="How identity was confirmed ('none': not yet).")
    ] = VerificationMethod.MANUAL_CHECK,
    request_id: Annotated[str | None, typer.Option(help="Default: a new random id.")] = None,
    received_at: Annotated[
        datetime | None, typer.Option(help="When we received it (the legal clock). Default: now.")
    ] = None,
    change: Annotated[
        list[str] | None, typer.Option(help="Rectification field=value (repeatable).")
    ] = None,
    system: Annotated[list[str] | None, typer.Option(help="Limit to these systems.")] = None,
) -> None:
    """Publish a signed request event, exactly as the portal does."""
    settings = _settings()
    ring = settings.signing_key_ring()
    if not ring:
        raise _fail("DSR_SIGNING_KEYS is not set (run `dsr up`, or export it)")
    key_id, secret = next(iter(ring.items()))
    subject = {
        k: v
        for k, v in {
            "email": email,
            "customer_number": customer_number,
            "personal_identity_number": personal_identity_number,
            "organisation_number": organisation_number,
            "phone": phone,
            "name": name,
            "domains": domain or None,
        }.items()
        if v
    }
    moment = received_at or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        event = _build_event(
            request_id=request_id or f"req-{secrets.token_hex(8)}",
            kind=kind,
            channel=channel,
            subject=subject,
            verification=verification,
            received_at=moment,
            changes=change or [],
            systems=system or [],
        )
    except ValidationError as error:
        raise _fail(f"invalid request: {safe_validation_detail(error)}", 2) from None
    except ValueError as error:
        raise _fail(str(error), 2) from None

    from orchestrator.publish import publish_request

    asyncio.run(publish_request(settings, event, key_id, secret))
    console.print(event.data.request_id)


# ── schema and sandbox ────────────────────────────────────────────────────────────────────
@schema_app.command("export")
def schema_export(directory: Path) -> None:
    """Write the event contract as JSON Schema files (committed for the portal team)."""
    from schemas.export import export_json_schemas

    for path in export_json_schemas(directory):
        console.print(str(path))


connector_app = typer.Typer(help="Connectors: the per-system adapters.")
app.add_typer(connector_app, name="connector")


@connector_app.command("new")
def connector_new(
    name: str,
    directory: Annotated[Path, typer.Option("--dir", help="The repository root.")] = Path("."),
) -> None:
    """Scaffold a connector package, its contract test and its docs page."""
    from connectors.scaffold import scaffold_connector

    try:
        result = scaffold_connector(name, directory)
    except ValueError as error:
        raise _fail(str(error), 2) from None
    for path in getattr(result, "files", result):
        console.print(str(path))
    entry = getattr(result, "entry_point", None)
    if entry:
        console.print(
            f'\nadd to pyproject.toml under [project.entry-points."dsr.connectors"]:\n  {entry}'
        )


@connector_app.command("list")
def connector_list() -> None:
    """The registered connectors: name, task queue, identifiers and operations."""
    from connectors.base import describe
    from orchestrator.settings import configured_connector_classes

    settings = _settings()
    table = Table("connector", "task queue", "searches by", "operations")
    for cls in configured_connector_classes(settings).values():
        info = describe(cls, settings.connector_task_queue_prefix)
        table.add_row(
            info.name,
            info.task_queue,
            ", ".join(info.search_identifiers),
            ", ".join(info.operations),
        )
    console.print(table)


_SERVICE_COMMANDS = frozenset({"worker", "intake"})


def _service_process() -> bool:
    """True in a process started as `python -m orchestrator.cli worker|intake` (how `dsr up`,
    the benches and the tests start them): it runs one command defined above, and loading the
    command groups (the DPO desk, packages, audit, rich tables) only costs it memory."""
    main_spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    started_as_cli = getattr(main_spec, "name", None) == "orchestrator.cli"
    return started_as_cli and sys.argv[1:2] in ([name] for name in _SERVICE_COMMANDS)


# Command groups live in their own modules, one concern each; importing them registers their
# commands on `app`. At the bottom, so `app` and the helpers above exist when they import them.
if not _service_process():
    from orchestrator import (
        cli_audit,  # noqa: F401
        cli_decisions,  # noqa: F401
        cli_desk,  # noqa: F401
        cli_dlq,  # noqa: F401
        cli_package,  # noqa: F401
        cli_policy,  # noqa: F401
    )


def main() -> None:
    """The console script: a bad setting met anywhere (a connector's, or one read outside
    `_settings`) is one line on stderr and exit status 2, never a traceback; so is an
    unreachable Temporal server (exit status 1). A process that used a Temporal client ends
    without interpreter finalization, which the SDK's native threads can turn into an abort
    (`orchestrator.shutdown.exit_skipping_finalization`)."""
    try:
        _run_app()
    except SystemExit as done:
        status = _exit_status(done.code)
    except Exception:  # a bug: its traceback, through the redaction (it may quote data), 1
        _report_crash()
        status = 1
    else:  # pragma: no cover -- Typer's standalone mode always ends in SystemExit
        status = 0
    # Looked up, not imported: a process that never loaded the client never started the SDK.
    client_module = sys.modules.get("orchestrator.temporal_client")
    if client_module is not None and client_module.temporal_runtime_started():
        from orchestrator.shutdown import exit_skipping_finalization

        exit_skipping_finalization(status)
    sys.exit(status)


def _report_crash() -> None:
    """The traceback of an error nothing handled, as one log record: through the redacting
    pipeline, since an exception's text can quote what it failed on (an SQL parameter, a URL
    with an e-mail address) and a service's stderr ends in log files. The interpreter's own
    report would print it raw."""
    if not logging.getLogger().handlers:  # failed before a command configured logging
        configure_logging("INFO", "console")
    logging.getLogger("orchestrator.cli").critical("unhandled error; exiting", exc_info=True)


def _exit_status(code: object) -> int:
    """`SystemExit.code` as the status the interpreter would give it: None is success, a
    message is printed and is failure."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _run_app() -> None:
    from aiokafka.errors import KafkaConnectionError

    from connectors.base import ConfigurationError
    from orchestrator.store import DATABASE_UNREACHABLE
    from orchestrator.temporal_client import TemporalUnreachable

    try:
        app()
    except (InvalidSettings, ConfigurationError) as error:
        err.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        sys.exit(2)
    except TemporalUnreachable as error:  # a DPO command with the server down: one line
        err.print(f"[red]error:[/red] {escape(str(error))}", soft_wrap=True)
        sys.exit(1)
    except KafkaConnectionError:  # likewise the broker (`dsr submit`, `dsr dlq`, ...)
        servers = get_settings().kafka_bootstrap_servers  # valid: the command got this far
        err.print(f"[red]error:[/red] Kafka is unreachable at {escape(servers)}", soft_wrap=True)
        sys.exit(1)
    except DATABASE_UNREACHABLE as error:  # every other client here wraps its own errors
        err.print(
            f"[red]error:[/red] cannot connect ({escape(str(error))}): is the store "
            "(DSR_DATABASE_URL) reachable?",
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    # `python -m orchestrator.cli` (how `dsr up` and the tests start services): run the app of
    # the imported module, on which the command groups (cli_desk, ...) registered their commands.
    from orchestrator.cli import main as registered_main

    registered_main()
