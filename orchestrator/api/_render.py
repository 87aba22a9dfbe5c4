"""Rendering shared by the API, the dashboard and the CLI: CSV of the list and of the monthly
report, and the Jinja2 environment of the server-rendered pages (autoescaped, packaged with the
code: no build step)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from orchestrator.dpo import MonthlyReport, RequestListItem
from orchestrator.dpo._read import LOCAL_ZONE

__all__ = [
    "LIST_CSV_COLUMNS",
    "STATIC_DIR",
    "TEMPLATES_DIR",
    "csv_text",
    "list_csv",
    "list_csv_rows",
    "report_csv",
    "report_html",
    "templates",
]

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

LIST_CSV_COLUMNS = [
    "request_id",
    "kind",
    "channel",
    "status",
    "received_at",
    "due_at",
    "due_date",
    "days_left",
    "overdue",
    "completed_at",
    "extended",
    "systems",
]


def _iso(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def list_csv_rows(items: Iterable[RequestListItem]) -> Iterable[list[str]]:
    for item in items:
        s = item.summary
        yield [
            s.request_id,
            s.kind.value,
            s.channel.value,
            s.status.value,
            _iso(s.received_at),
            _iso(s.due_at),
            item.due_date.isoformat(),
            str(item.days_left),
            "yes" if item.overdue else "no",
            _iso(s.completed_at),
            "yes" if getattr(s, "extension", None) else "no",
            " ".join(f"{x.system}:{x.outcome.value}" for x in s.systems),
        ]


def csv_text(rows: Iterable[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def list_csv(items: Iterable[RequestListItem]) -> str:
    return csv_text([LIST_CSV_COLUMNS, *list_csv_rows(items)])


def report_csv(report: MonthlyReport) -> str:
    """One `section,key,value` row per figure: a spreadsheet pivots it, a person reads it."""
    rows: list[list[Any]] = [["section", "key", "value"]]
    rows += [
        ["month", "", report.month],
        ["received", "", report.received],
        ["deadline", "on_time", report.on_time],
        ["deadline", "late", report.late],
        ["deadline", "still_open", report.still_open],
        ["deadline", "overdue_open", report.overdue_open],
        ["days_to_complete", "completed", report.completed],
        ["days_to_complete", "median", _number(report.median_days_to_complete)],
        ["days_to_complete", "p95", _number(report.p95_days_to_complete)],
    ]
    for section, values in (
        ("by_kind", report.by_kind),
        ("by_channel", report.by_channel),
        ("by_status", report.by_status),
        ("denials_by_reason", report.denials_by_reason),
        ("retained_records_by_reason", report.retained_by_reason),
        ("retained_requests_by_reason", report.retained_requests_by_reason),
        ("recipients_notified", report.recipients_notified),
    ):
        rows += [[section, key, value] for key, value in values.items()]
    for line in report.extensions:
        rows.append(
            [
                "extension",
                line.request_id,
                f"{line.months} month(s): {line.reason} (due {_local_day(line.due_at)})",
            ]
        )
    return csv_text(rows)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _local_day(moment: datetime) -> str:
    return moment.astimezone(LOCAL_ZONE).date().isoformat()


def _local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if moment is None else moment.astimezone(LOCAL_ZONE).strftime(fmt)


def _json_script(value: Any) -> Markup:
    """JSON for a `<script type="application/json">` block ('<' escaped: no tag can end it)."""
    text = json.dumps(value, default=str).replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text)  # noqa: S704 - escaped above for the only context it is used in


def _date(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = _local
    env.filters["day"] = _date
    env.filters["json_script"] = _json_script
    env.filters["number"] = _number
    return env


templates = _environment()


def report_html(report: MonthlyReport, *, standalone: bool = True, **context: Any) -> str:
    return templates.get_template("report.html").render(
        report=report, standalone=standalone, **context
    )
