"""`dsr` commands: the DPO's reading commands (list, show/status, report) and `dsr api` (the
HTTP API and dashboard): thin displays over the DPO front door, orchestrator.dpo.

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from orchestrator.cli import _fail, _settings, app, console
from orchestrator.dpo import Desk, FollowUpView, RequestView, SortField, query_from_filters
from orchestrator.dpo._read import (  # times in Stockholm, as the filters' days are
    LOCAL_ZONE,
    follow_up_views,
)
from orchestrator.dpo._restriction_view import (
    RestrictionLiftView,
    restricted_since,
    restriction_lift_view,
)
from orchestrator.settings import Settings, load_configured_policy
from schemas.events import Channel, RequestKind
from schemas.records import CompletionRecord, RequestSummary
from schemas.status import RequestStatus

_T = TypeVar("_T")


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"
    TABLE = "table"


def _with_desk(settings: Settings, work: Callable[[Desk], Awaitable[_T]]) -> _T:
    async def run() -> _T:
        desk = await Desk.open(settings)
        try:
            return await work(desk)
        finally:
            await desk.close()

    return asyncio.run(run())


def _write_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


# ── dsr api ──────────────────────────────────────────────────────────────────────────────────
@app.command()
def api(
    bind: Annotated[
        str | None, typer.Option(help="host:port (default DSR_API_BIND, 127.0.0.1:8400)")
    ] = None,
) -> None:
    """Serve the DPO's HTTP API and dashboard until SIGTERM/Ctrl-C."""
    from orchestrator.api import serve
    from orchestrator.auth import InvalidTokenConfig, TokenVerifier

    settings = _settings(service=True)
    load_configured_policy(settings)  # a bad DSR_POLICY_FILE in one line, before serving
    try:
        if not TokenVerifier.from_settings(settings).configured:
            console.print("[yellow]DSR_API_TOKENS is empty: every call will be refused[/yellow]")
    except InvalidTokenConfig as error:
        raise _fail(str(error), 2) from None
    try:
        serve(settings, bind)
    except ValueError as error:
        raise _fail(str(error), 2) from None


# ── dsr list ─────────────────────────────────────────────────────────────────────────────────
def _status_document(
    summary: RequestSummary, due_date: date | None = None, record: CompletionRecord | None = None
) -> dict[str, Any]:
    """What `dsr status --json` prints: the summary, with the deadline day always present and
    the policy's plan (kept with the completion record) once there is one, and with the record
    its deferred erasures (`state` `retrying`: a system failed and is being tried again)."""
    document = summary.model_dump(mode="json")
    document["plan"] = (
        record.plan.model_dump(mode="json") if record is not None and record.plan else None
    )
    if record is not None:
        document["follow_ups"] = [f.model_dump(mode="json") for f in follow_up_views(record)]
    lift = restriction_lift_view(summary, record)
    document["restriction_lift"] = lift.model_dump(mode="json") if lift is not None else None
    since = restricted_since(summary)
    document["restricted_since"] = since.isoformat() if since is not None else None
    if due_date is not None:
        document.setdefault("due_date", due_date.isoformat())
        if document.get("due_date") is None:
            document["due_date"] = due_date.isoformat()
    return document


@app.command(name="list")
def list_requests(
    status_filter: Annotated[
        list[RequestStatus] | None, typer.Option("--status", help="Only these (repeatable).")
    ] = None,
    kind: Annotated[list[RequestKind] | None, typer.Option(help="Repeatable.")] = None,
    channel: Annotated[list[Channel] | None, typer.Option(help="Repeatable.")] = None,
    overdue: Annotated[
        bool | None, typer.Option("--overdue/--not-overdue", help="Past the deadline, unanswered.")
    ] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only unanswered requests.")] = False,
    due_before: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Due by the end of this day (Stockholm)."),
    ] = None,
    received_from: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    received_to: Annotated[datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    system_outcome: Annotated[
        str | None, typer.Option(help="`failed` (any system) or `billing:failed`.")
    ] = None,
    prefix: Annotated[str | None, typer.Option("--id", help="Request id prefix.")] = None,
    sort: Annotated[SortField, typer.Option()] = SortField.RECEIVED_AT,
    ascending: Annotated[bool, typer.Option("--asc", help="Ascending order.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    cursor: Annotated[str | None, typer.Option(help="Continue after a previous page.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List requests (newest first by default) with the desk's filters."""
    from pydantic import ValidationError

    from orchestrator.store._queries import InvalidCursor

    settings = _settings()
    try:
        query = query_from_filters(
            status=status_filter or [],
            kind=kind or [],
            channel=channel or [],
            overdue=overdue,
            open_only=open_only,
            due_before=due_before.date() if due_before else None,
            received_from=received_from.date() if received_from else None,
            received_to=received_to.date() if received_to else None,
            system_outcome=system_outcome,
            request_id_prefix=prefix,
            sort=sort,
            descending=not ascending,
            limit=limit,
            cursor=cursor,
        )
    except (ValidationError, ValueError) as error:
        raise _fail(str(error).splitlines()[0], 2) from None
    try:
        page = _with_desk(settings, lambda desk: desk.list_requests(query))
    except InvalidCursor as error:
        raise _fail(str(error), 2) from None
    if as_json:
        _write_json(
            [
                {
                    **_status_document(item.summary, item.due_date),
                    "days_left": item.days_left,
                    "overdue": item.overdue,
                }
                for item in page.items
            ]
        )
        if page.next_cursor:
            sys.stderr.write(f"more: --cursor {page.next_cursor}\n")
        return
    table = Table("request", "kind", "channel", "status", "received", "due", "days", "systems")
    for item in page.items:
        s = item.summary
        days = (
            "answered"
            if s.status.value in ("completed", "denied", "cancelled")
            else (f"[red]{-item.days_left} overdue[/red]" if item.overdue else str(item.days_left))
        )
        table.add_row(
            s.request_id,
            s.kind.value,
            s.channel.value,
            s.status.value,
            f"{s.received_at.astimezone(LOCAL_ZONE):%Y-%m-%d %H:%M}",
            item.due_date.isoformat(),
            days,
            ", ".join(f"{x.system}:{x.outcome.value}" for x in s.systems),
        )
    console.print(table)
    if page.total is not None:
        console.print(
            f"{len(page.items)} of {page.total}{'+' if page.total_is_lower_bound else ''}"
        )
    if page.next_cursor:
        console.print(f"more: --cursor {page.next_cursor}", soft_wrap=True)


# ── dsr show / status ────────────────────────────────────────────────────────────────────────
def _load_view(request_id: str) -> RequestView:
    settings = _settings()
    view = _with_desk(settings, lambda desk: desk.get_request(request_id))
    if view is None:
        raise _fail(f"no request {request_id!r}")
    return view


def _print_view(view: RequestView, *, timeline: bool) -> None:
    s = view.summary
    document = _status_document(s, view.due_date, view.record)
    overdue = " [red]OVERDUE[/red]" if view.overdue else ""
    console.print(
        f"[bold]{s.request_id}[/bold]  {s.kind.value}  [bold]{s.status.value}[/bold]  "
        f"received {s.received_at.astimezone(LOCAL_ZONE):%Y-%m-%d %H:%M}  due {view.due_date} "
        f"({s.due_at.isoformat()}){overdue}",
        soft_wrap=True,
    )
    if s.reason:
        console.print(f"reason: {escape(s.reason)}")
    extension = document.get("extension")
    if extension:
        console.print(
            f"extension: {extension.get('months')} month(s): {escape(str(extension.get('reason')))}"
        )
    table = Table("system", "outcome", "counts", "retained", "notified", "export / reason")
    for system in s.systems:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(system.counts.items()) if v) or "-"
        retained = "; ".join(f"{r.describe()} ({r.legal_basis})" for r in system.retained) or "-"
        tail = "exported" if system.export else (system.reason or "")
        table.add_row(
            system.system,
            system.outcome.value,
            counts,
            retained,
            ", ".join(system.notified) or "-",
            escape(tail),
        )
    console.print(table)
    for system in s.systems:
        if system.export is not None:
            console.print(
                f"export {system.system}: {system.export.uri}  "
                f"({system.export.records} records, sha256 {system.export.sha256[:16]}…)",
                soft_wrap=True,
            )
    plan = document.get("plan") or {}
    actions = [a for p in plan.get("systems", []) for a in p.get("actions", [])]
    if actions:
        plan_table = Table("plan: system", "category", "action", "count", "reason", "until")
        for a in actions:
            plan_table.add_row(
                a.get("system", ""),
                a.get("category", ""),
                str(a.get("action", "")),
                str(a.get("count", "")),
                str(a.get("reason") or ""),
                str(a.get("until") or ""),
            )
        console.print(plan_table)
    _print_follow_ups(view.follow_ups)
    _print_restriction_lift(view.restriction_lift)
    if view.restricted_since is not None:
        console.print(
            f"restricted since {view.restricted_since.astimezone(LOCAL_ZONE):%Y-%m-%d %H:%M}, "
            f"lift with dsr lift-restriction {view.summary.request_id} --actor A --note N",
            soft_wrap=True,
        )
    package = document.get("package")
    if package:
        console.print(f"package: {json.dumps(package, default=str)}", soft_wrap=True)
    if view.scope is not None:
        console.print(
            "scope (as the customer wrote it): systems "
            + escape(", ".join(view.scope.systems) or "-")
            + "; purposes "
            + escape("; ".join(view.scope.purposes) or "-"),
            soft_wrap=True,
        )
    if view.allowed_decisions:
        console.print("decisions possible now: " + ", ".join(view.allowed_decisions))
    if timeline:
        trail = Table("#", "at", "action", "actor", "details")
        for e in view.timeline:
            trail.add_row(
                str(e.sequence),
                f"{e.at.astimezone(LOCAL_ZONE):%Y-%m-%d %H:%M:%S}",
                e.action.value,
                escape(e.actor),
                escape(", ".join(f"{k}={v}" for k, v in sorted(e.details.items()))),
            )
        console.print(trail)


_FOLLOW_UP_STATE = {
    "done": "done",
    "retrying": "[red]failed · retrying[/red]",
    "failed": "[red]failed · not retried[/red]",
}


def _next_try(follow_up: FollowUpView) -> str:
    if follow_up.retry_at is not None:
        return f"{follow_up.retry_at.astimezone(LOCAL_ZONE):%Y-%m-%d %H:%M}"
    return "never" if follow_up.state == "failed" else ""


def _print_follow_ups(follow_ups: list[FollowUpView]) -> None:
    """The deferred erasures, one per date, and a line for each that failed (a table cell may
    wrap or be cut on a narrow terminal; the line says it whole)."""
    if not follow_ups:
        return
    table = Table("deferred erasure: due", "outcome", "attempt", "erased", "note", "next try")
    for f in follow_ups:
        table.add_row(
            f.due_on.isoformat(),
            _FOLLOW_UP_STATE[f.state],
            str(f.attempt),
            f.counts or "-",
            escape(f.note),
            _next_try(f),
        )
    console.print(table)
    for f in follow_ups:
        if f.state == "retrying":
            line = f"retrying, attempt {f.attempt} failed; next try {_next_try(f)}"
        elif f.state == "failed":
            line = "not retried (recorded before failed erasures were): see to it by hand"
        else:
            continue
        console.print(
            f"[red]deferred erasure due {f.due_on} failed ({escape(f.note)}): {line}[/red]",
            soft_wrap=True,
        )


_LIFT_STATE = {
    "lifting": "[yellow]lifting[/yellow]",
    "lifted": "lifted",
    "partly_lifted": "[red]partly lifted[/red]",
}


def _print_restriction_lift(lift: RestrictionLiftView | None) -> None:
    """The restriction's lift: who, when, why, each system's result, and a line per system a
    person must still lift (a partly lifted restriction is not done)."""
    if lift is None:
        return
    who = f" by {escape(lift.requested_by)}" if lift.requested_by else ""
    when = f" {lift.changed_at.astimezone(LOCAL_ZONE):%Y-%m-%d %H:%M}"
    note = f": {escape(lift.note)}" if lift.note else ""
    console.print(f"restriction: {_LIFT_STATE[lift.state.value]}{who}{when}{note}", soft_wrap=True)
    if lift.systems:
        table = Table("lift: system", "outcome", "counts", "reason")
        for s in lift.systems:
            counts = ", ".join(f"{k}={v}" for k, v in sorted(s.counts.items())) or "-"
            table.add_row(s.system, s.outcome.value, counts, escape(s.reason or ""))
        console.print(table)
    for s in lift.systems:
        if s.needs_person:
            console.print(
                f"[red]restriction not lifted in {s.system}: {escape(s.reason or '')}[/red]",
                soft_wrap=True,
            )


@app.command()
def status(
    request_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """One request: status, deadline, plan, what each system did, what was retained and why."""
    view = _load_view(request_id)
    if as_json:
        _write_json(_status_document(view.summary, view.due_date, view.record))
    else:
        _print_view(view, timeline=False)


@app.command()
def show(
    request_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Everything about one request: `dsr status` plus decisions and the audit timeline."""
    view = _load_view(request_id)
    if as_json:
        document = view.model_dump(mode="json")
        document["summary"] = _status_document(view.summary, view.due_date, view.record)
        _write_json(document)
    else:
        _print_view(view, timeline=True)


# ── dsr report ───────────────────────────────────────────────────────────────────────────────
@app.command()
def report(
    month: Annotated[str, typer.Option(help="YYYY-MM (Stockholm time).")],
    output_format: Annotated[ReportFormat, typer.Option("--format")] = ReportFormat.TABLE,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to a file.")] = None,
) -> None:
    """The month's compliance report: by kind and channel, on time / late / open, days to
    complete (median, p95), denials by reason, extensions, retained items, recipients."""
    from orchestrator.api._render import report_csv, report_html
    from orchestrator.dpo import month_bounds

    try:
        month_bounds(month)
    except ValueError as error:
        raise _fail(str(error), 2) from None
    settings = _settings()
    figures = _with_desk(settings, lambda desk: desk.monthly_report(month))
    if output_format is ReportFormat.JSON:
        text = figures.model_dump_json(indent=2) + "\n"
    elif output_format is ReportFormat.CSV:
        text = report_csv(figures)
    elif output_format is ReportFormat.HTML:
        text = report_html(figures, standalone=True)
    else:
        _print_report(figures)
        return
    if output is not None:
        output.write_text(text)
        console.print(str(output))
    else:
        sys.stdout.write(text)


def _print_report(figures: Any) -> None:
    console.print(f"[bold]Compliance report {figures.month}[/bold]: {figures.received} received")
    console.print(
        f"on time {figures.on_time}, late {figures.late}, still open {figures.still_open} "
        f"({figures.overdue_open} overdue); median {figures.median_days_to_complete} days, "
        f"p95 {figures.p95_days_to_complete} days ({figures.completed} completed)"
    )
    for title, values in (
        ("by kind", figures.by_kind),
        ("by channel", figures.by_channel),
        ("denials by reason", figures.denials_by_reason),
        ("retained records by reason", figures.retained_by_reason),
        ("recipients notified", figures.recipients_notified),
    ):
        console.print(f"{title}: " + (", ".join(f"{k}={v}" for k, v in values.items()) or "-"))
    for line in figures.extensions:
        console.print(f"extension {line.request_id}: {line.months} month(s): {escape(line.reason)}")


@app.command()
def stuck(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Workflows that take no step because their code fails on every task (Temporal marks them
    after five failures in a row): a developer must fix and deploy. Exit 1 if there are any,
    or if Temporal did not answer (then it is not known)."""
    settings = _settings()
    found = _with_desk(settings, lambda desk: desk.stuck())
    if found is None:
        raise _fail("Temporal did not answer: whether a workflow is stuck is not known", 1)
    if as_json:
        _write_json([s.model_dump(mode="json") for s in found])
    elif not found:
        console.print("no workflow is stuck")
    else:
        table = Table("request", "workflow", "type", "problem")
        for s in found:
            table.add_row(
                s.request_id or "-", escape(s.workflow_id), s.workflow_type, ", ".join(s.problems)
            )
        console.print(table)
    if found:
        raise typer.Exit(1)
