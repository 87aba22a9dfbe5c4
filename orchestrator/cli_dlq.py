"""`dsr dlq`: dead letters — list, show (audited) and re-drive events the intake refused.

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
`list` reads only the clear triage headers (reason, detail, source, times): no decryption, no
personal data. `show` decrypts one, after recording who read it in the audit trail. Both refuse
what has expired (`DSR_DLQ_RETENTION_DAYS`, default 30).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from orchestrator.cli import _actor, _fail, _settings, app, console

dlq_app = typer.Typer(
    help="Dead letters: events the intake refused (sealed; reading one is audited).",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")


def _row(letter: Any, now: datetime) -> dict[str, Any]:
    return {
        "id": letter.id,
        "at": letter.at.isoformat() if letter.at else None,
        "reason": letter.reason,
        "detail": letter.detail,
        "request_id": letter.request_id,
        "source": (
            f"{letter.source.topic}/{letter.source.partition}@{letter.source.offset}"
            if letter.source
            else None
        ),
        "expires_at": letter.expires_at.isoformat() if letter.expires_at else None,
        "expired": letter.expired(now),
        # `request`: under the named request's data key, shredded with it (orchestrator.dlq).
        "sealed_with": "request" if (letter.key_id or "").startswith("dk:") else "dlq",
    }


@dlq_app.command("list")
def dlq_list(
    reason: Annotated[str | None, typer.Option(help="Only this reason.")] = None,
    include_expired: Annotated[bool, typer.Option(help="Also expired ones.")] = False,
    limit: Annotated[int, typer.Option(help="The newest N.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Dead letters, newest first: id, reason, detail, source position, expiry."""
    from orchestrator.dlq import read_dead_letters

    settings = _settings()
    now = datetime.now(UTC)
    letters = asyncio.run(read_dead_letters(settings))
    rows = [
        _row(letter, now)
        for letter in letters
        if (reason is None or letter.reason == reason)
        and (include_expired or not letter.expired(now))
    ]
    rows.sort(key=lambda r: r["at"] or "", reverse=True)
    rows = rows[:limit]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("id", "at", "reason", "request", "source", "detail")
    for r in rows:
        table.add_row(
            r["id"],
            (r["at"] or "?")[:19],
            r["reason"] + (" (expired)" if r["expired"] else ""),
            r["request_id"] or "-",
            r["source"] or "?",
            r["detail"][:120],
        )
    console.print(table)


def _describe_failure(error: Exception) -> str:
    from orchestrator.dlq import DlqExpired, DlqKeyMissing, DlqShredded, DlqUnreadable
    from orchestrator.dlq.operate import DeadLetterNotFound, StillInvalid

    if isinstance(error, DeadLetterNotFound):
        return f"no dead letter {error} (never existed, or pruned after its retention)"
    if isinstance(error, DlqExpired):
        return f"{error}: past its retention, it may no longer be read"
    if isinstance(error, DlqShredded):
        return f"unreadable: {error}"
    if isinstance(error, DlqKeyMissing):
        return f"unreadable: {error} (the key was retired or destroyed)"
    if isinstance(error, DlqUnreadable):
        return f"unreadable: {error}"
    if isinstance(error, StillInvalid):
        return f"would be refused again ({error}); fix the event and pass --file"
    if isinstance(error, ValueError):
        return str(error)
    raise error


async def _with_store(settings: Any, action: Any) -> Any:
    from orchestrator.store import Store

    store = await Store.open(settings.database_url)
    try:
        return await action(store)
    finally:
        await store.close()


@dlq_app.command("show")
def dlq_show(
    dead_letter_id: Annotated[str, typer.Argument(metavar="ID", help="partition:offset")],
    actor: Annotated[
        str, typer.Option(callback=_actor, help="Who reads it (recorded in the audit trail).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Decrypt one dead letter: the original key, headers and value. Audited."""
    from orchestrator.dlq.operate import read_dead_letter

    settings = _settings()
    try:
        letter, original = asyncio.run(
            _with_store(
                settings, lambda store: read_dead_letter(settings, store, dead_letter_id, actor)
            )
        )
    except Exception as error:  # mapped to one-line messages; anything else re-raised
        raise _fail(_describe_failure(error)) from None
    value_text = (original.value or b"").decode("utf-8", "replace")
    try:
        value: Any = json.loads(value_text)
    except ValueError:
        value = value_text
    document = {
        **_row(letter, datetime.now(UTC)),
        "key": (original.key or b"").decode("utf-8", "replace") if original.key else None,
        "headers": {k: v.decode("utf-8", "replace") for k, v in original.headers},
        "value_truncated": original.truncated,
        "value": value,
    }
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return
    # Everything after the label is the (possibly forged) producer's bytes: escaped, so Rich
    # markup in it neither crashes the command (after its read was audited) nor restyles or
    # hides what the operator sees; a non-JSON value is printed with markup off.
    for name in ("id", "at", "reason", "detail", "source", "expires_at", "key"):
        console.print(f"[bold]{name}[/bold]: {escape(str(document[name]))}", soft_wrap=True)
    for name, header in document["headers"].items():
        console.print(f"[bold]header[/bold] {escape(name)}: {escape(header)}", soft_wrap=True)
    cut = " (the letter was cut to its size limits: key, value or headers)"
    console.print("[bold]value[/bold]" + (cut if original.truncated else ""))
    if isinstance(value, str):
        console.print(value, markup=False, highlight=False, soft_wrap=True)
    else:
        console.print_json(data=value)


@dlq_app.command("redrive")
def dlq_redrive(
    dead_letter_id: Annotated[str, typer.Argument(metavar="ID", help="partition:offset")],
    actor: Annotated[
        str, typer.Option(callback=_actor, help="Who re-drives it (recorded in the audit trail).")
    ],
    file: Annotated[
        Path | None,
        typer.Option(help="A corrected event (JSON) to publish instead; signed with our key."),
    ] = None,
) -> None:
    """Publish a dead letter's event (or its corrected version) to the requests topic again."""
    from orchestrator.dlq.operate import redrive_dead_letter

    settings = _settings()
    fixed = file.read_bytes() if file is not None else None
    try:
        request_id = asyncio.run(
            _with_store(
                settings,
                lambda store: redrive_dead_letter(settings, store, dead_letter_id, actor, fixed),
            )
        )
    except Exception as error:  # mapped to one-line messages; anything else re-raised
        raise _fail(_describe_failure(error)) from None
    console.print(f"re-driven {dead_letter_id} as {request_id}")


@app.command()
def reconcile(
    max_records: Annotated[
        int | None,
        typer.Option(
            help="Examine at most this many records (only without a schedule: a scheduled "
            "run keeps the schedule's own bound)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Run the reconciler now (it also runs on a schedule the worker creates): prove every
    request record has a workflow or a dead letter, re-drive any that has neither. Triggers
    the schedule, so it never runs beside a scheduled run (one already running is waited for
    and its report shown)."""
    from orchestrator.reconcile import reconcile_now
    from orchestrator.temporal_client import connect_temporal

    settings = _settings()

    async def run() -> Any:
        client = await connect_temporal(settings)
        return await reconcile_now(client, settings, max_records=max_records)

    from temporalio.client import WorkflowFailureError

    try:
        report, already = asyncio.run(run())
    except WorkflowFailureError as error:  # e.g. a partition failed (the others were done)
        cause: BaseException = error
        while cause.__cause__ is not None:  # workflow ← activity ← the activity's own error
            cause = cause.__cause__
        raise _fail(f"the reconciler run failed: {cause}") from None
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return
    if already:
        console.print("a reconciler run was already in progress: its report")
    console.print(
        f"examined {report.examined}, accounted {report.accounted}, "
        f"re-driven {len(report.redriven)}, pending at the intake {report.pending}"
    )
    if report.remaining:
        console.print(f"left for the next run {report.remaining}")
    if report.deferred:
        console.print(f"deferred (another run is re-driving them) {report.deferred}")
    if report.lost_to_retention:
        console.print(f"lost to retention before they were proven {report.lost_to_retention}")
    for partition, checkpoint in sorted(report.checkpoint_resets.items()):
        console.print(f"partition {partition}: checkpoint {checkpoint} past the log's end, reset")
    for item in report.redriven:
        console.print(
            f"  {item.topic}/{item.partition}@{item.offset}  {item.request_id or '-'}  "
            f"{item.outcome}"
        )
