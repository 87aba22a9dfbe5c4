"""The read side of the DPO front door: one request (live from its workflow, else the store),
the filtered list, the overview, the monthly compliance report and the dashboard's chart series.

The CLI, the HTTP API and the dashboard all read through `Desk`, so a number means the same
everywhere. Nothing here holds the subject's personal data: summaries, plans, outcomes, counts
and the audit trail are pseudonymous by construction (see schemas/records.py).

Why live first, store second: while a workflow runs, its query answers with the state of this
very moment (a DPO who just extended a deadline sees the new date at once); once it has finished
the store's copy is final, and asking Temporal would only replay a closed history.
"""

from __future__ import annotations

import asyncio
import math
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from orchestrator.codec import request_id_of_workflow
from orchestrator.dpo._restriction_view import (
    RestrictionLiftView,
    may_lift,
    restricted_since,
    restriction_lift_view,
)
from orchestrator.logging import get_logger
from orchestrator.settings import Settings, load_configured_policy
from orchestrator.store import Store
from orchestrator.store._queries import (
    DENSE_OUTCOME_MATCHES,
    OutcomePlan,
    RequestQuery,
    SortField,
    build_outcome_probe,
    build_walk_probe,
)
from schemas.events import (
    RESERVED_REQUEST_ID_SUFFIX,
    Channel,
    DsrRequestedData,
    RequestKind,
    Scope,
    Subject,
    is_valid_request_id,
)
from schemas.records import (
    AuditAction,
    AuditEvent,
    CompletionRecord,
    FollowUpEntry,
    RequestSummary,
)
from schemas.status import TERMINAL_STATUSES, RequestStatus, SystemOutcome

log = get_logger(__name__)

__all__ = [
    "LOCAL_ZONE",
    "STUCK_QUERY",
    "AmbiguityView",
    "ChartSeries",
    "Desk",
    "ExtensionLine",
    "FollowUpView",
    "MonthlyReport",
    "NotAmbiguous",
    "Overview",
    "RequestListItem",
    "RequestPage",
    "RequestQuery",
    "RequestView",
    "SortField",
    "StuckWorkflow",
    "TimelineEntry",
    "allowed_decisions",
    "days_left",
    "due_this_week",
    "identifiers_for_ambiguity",
    "month_bounds",
    "percentile",
    "query_from_filters",
]

# The company's time zone: deadline days, report months and weeks are local (policy setting).
LOCAL_ZONE = ZoneInfo("Europe/Stockholm")
_LIVE_QUERY_TIMEOUT = timedelta(seconds=5)
# The list counts its matches up to this many (it says "1000+" rather than scan a whole store).
LIST_COUNT_CAP = 1_000

# Every decision the lifecycle's front door offers (orchestrator.dpo._decide), by the roles that
# may take it. The workflow's validator stays the arbiter: this only decides what to offer.
DECISIONS = (
    "confirm_identity",
    "approve",
    "deny",
    "extend",
    "cancel",
    "resolve_system",
    "retry_system",
    "skip_system",
    "narrow_subject",
    "lift_restriction",
    "retry_deferred_erasure",
)
OPERATOR_DECISIONS = frozenset(
    {"resolve_system", "retry_system", "skip_system", "retry_deferred_erasure"}
)
_STUCK_OUTCOMES = (SystemOutcome.FAILED, SystemOutcome.MANUAL)


def _due_day(summary: RequestSummary) -> date:
    """The published deadline day; rows from before it was published: the due moment's day."""
    return summary.due_date or summary.due_at.astimezone(LOCAL_ZONE).date()


def days_left(summary: RequestSummary, now: datetime) -> int:
    """Whole days from today (Stockholm) to the deadline day; negative when overdue."""
    return (_due_day(summary) - now.astimezone(LOCAL_ZONE).date()).days


def _is_overdue(summary: RequestSummary, now: datetime) -> bool:
    return summary.status not in TERMINAL_STATUSES and summary.due_at < now


def allowed_decisions(
    summary: RequestSummary, now: datetime, record: CompletionRecord | None = None
) -> list[str]:
    """The decisions the workflow accepts in the request's current state (what the dashboard
    offers as buttons), after the Update validators of workflows/dsr.py. Those stay the arbiter:
    a decision they still reject (e.g. the request closed meanwhile) is a 409 with its reason."""
    status = summary.status
    if status in TERMINAL_STATUSES:
        closed: list[str] = []
        # A closed restriction request's restriction may be lifted (orchestrator/dpo/_lift.py).
        if may_lift(summary):
            closed.append("lift_restriction")
        # A deferred erasure failing in a system may be tried now (orchestrator/dpo/_deferred.py).
        if any(view.state == "retrying" for view in follow_up_views(record)):
            closed.append("retry_deferred_erasure")
        return closed
    allowed: list[str] = []
    waiting = status in (
        RequestStatus.AWAITING_VERIFICATION,
        RequestStatus.AWAITING_DECISION,
        RequestStatus.NEEDS_ATTENTION,
    )
    if status is RequestStatus.AWAITING_VERIFICATION:
        allowed += ["confirm_identity", "deny"]
    elif status is RequestStatus.AWAITING_DECISION:
        allowed += ["approve", "deny"]
    elif status is RequestStatus.NEEDS_ATTENTION:
        stuck = [s for s in summary.systems if s.outcome in _STUCK_OUTCOMES]
        if stuck:
            allowed += ["resolve_system", "retry_system", "skip_system"]
        if any(s.outcome is SystemOutcome.MANUAL for s in stuck):
            allowed.append("narrow_subject")
    if summary.extension is None and now <= summary.due_at:
        allowed.append("extend")
    if waiting:
        allowed.append("cancel")
    return allowed


def extension_unavailable(summary: RequestSummary, now: datetime) -> str | None:
    """Why `extend` is not among the allowed decisions (None when it is): the dashboard says so
    next to the deadline instead of leaving the DPO to wonder where the button went. Art. 12(3)
    allows one extension, made within the original month; an overdue request is late, and an
    extension cannot make it on time after the fact."""
    if summary.status in TERMINAL_STATUSES:
        return f"the request is {summary.status.value}: its deadline no longer runs"
    if now > summary.due_at:
        due = _due_day(summary).isoformat()
        return (
            f"the deadline ({due}) has passed: Art. 12(3) allows an extension only before it "
            "runs out, so this request is late and should be answered now"
            + (" (it was already extended once)" if summary.extension is not None else "")
        )
    if summary.extension is not None:
        return "already extended once (Art. 12(3) allows one extension, of at most 2 months)"
    return None


class TimelineEntry(BaseModel):
    """One audit entry as the timeline shows it (the chain fields prove it is the stored one)."""

    model_config = ConfigDict(frozen=True)

    sequence: int | None
    at: AwareDatetime
    action: AuditAction
    actor: str
    details: dict[str, object]
    hash: str | None

    @classmethod
    def of(cls, event: AuditEvent) -> TimelineEntry:
        return cls(
            sequence=event.sequence,
            at=event.at,
            action=event.action,
            actor=event.actor,
            details=event.details,
            hash=event.hash,
        )


class FollowUpView(BaseModel):
    """One date of the request's deferred erasures (workflows/follow_up.py) as the desk shows
    it: counts, system names and error kinds only, never a record or the subject.

    `state`: `done`; `retrying` — a system failed and the chain tries it again at `retry_at`
    (the records are still there: what failed, and why, is in `note`); `failed` — recorded by a
    chain from before failed systems were retried, which gave up: a person must see to it."""

    model_config = ConfigDict(frozen=True)

    due_on: date
    state: Literal["done", "retrying", "failed"]
    outcome: str
    note: str
    erased: dict[str, dict[str, int]]
    attempt: int
    ran_at: AwareDatetime
    retry_at: AwareDatetime | None

    @classmethod
    def of(cls, entry: FollowUpEntry) -> FollowUpView:
        state: Literal["done", "retrying", "failed"] = (
            "done" if entry.outcome == "done" else "retrying" if entry.retrying else "failed"
        )
        return cls(
            due_on=entry.due_on,
            state=state,
            outcome=entry.outcome,
            note=entry.note,
            erased=entry.erased,
            attempt=entry.attempt,
            ran_at=entry.ran_at,
            retry_at=entry.retry_at,
        )

    @property
    def counts(self) -> str:
        """`billing: invoices 1; newsletter: subscriber 1` (what was erased, per system)."""
        return "; ".join(
            f"{system}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            for system, counts in sorted(self.erased.items())
            if counts
        )


def follow_up_views(record: CompletionRecord | None) -> list[FollowUpView]:
    """The record's deferred erasures, one per date, in date order."""
    if record is None:
        return []
    return [FollowUpView.of(e) for e in sorted(record.follow_ups, key=lambda e: e.due_on)]


class RequestView(BaseModel):
    """Everything the request page shows: the summary (plan, outcomes, retained items, recipients,
    extension, package), the completion record, its deferred erasures, the decisions and the
    audit timeline."""

    model_config = ConfigDict(frozen=True)

    summary: RequestSummary
    source: Literal["live", "store"]
    record: CompletionRecord | None
    timeline: list[TimelineEntry]
    decisions: list[TimelineEntry]
    allowed_decisions: list[str]
    overdue: bool
    days_left: int
    due_date: date
    extension_unavailable: str | None = Field(
        default=None, description="why the deadline cannot be extended now (None: it can)"
    )
    scope: Scope | None = Field(
        default=None,
        description="the customer's scope, read from the running workflow while the request "
        "awaits a decision (a scope may be what holds it)",
    )
    follow_ups: list[FollowUpView] = Field(
        default_factory=list,
        description="the deferred erasures run since the request closed, one per date; `retrying`: "
        "a system failed and is being tried again, its records still there",
    )
    restriction_lift: RestrictionLiftView | None = Field(
        default=None,
        description="a restriction request's restriction being lifted or lifted (Art. 18), per "
        "system; `tasks`: the systems a person must still lift by hand",
    )
    restricted_since: AwareDatetime | None = Field(
        default=None,
        description="a completed restriction request's restriction in force since then, its "
        "lift held for the DPO's decision (`lift_restriction`); null once it is being lifted",
    )


class RequestListItem(BaseModel):
    """One row of the list: the summary plus what the desk derives from it."""

    model_config = ConfigDict(frozen=True)

    summary: RequestSummary
    overdue: bool
    days_left: int
    due_date: date


class RequestPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[RequestListItem]
    next_cursor: str | None
    total: int | None = Field(description="matching requests; on the first page only")
    total_is_lower_bound: bool = Field(
        default=False, description="more than `total` match (the count stops there)"
    )


# Running workflows whose own code fails on every workflow task: Temporal's server marks them
# after five failures in a row (`system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute`)
# and clears the mark once a task completes. The query the Temporal UI itself uses.
STUCK_QUERY = (
    'ExecutionStatus="Running" AND TemporalReportedProblems IN '
    '("category=WorkflowTaskFailed", "category=WorkflowTaskTimedOut")'
)
STUCK_LIST_CAP = 50
_STUCK_TIMEOUT = 3.0  # seconds: the overview is not held up by an unreachable Temporal


class StuckWorkflow(BaseModel):
    """A running workflow that takes no step: its code fails on every task (a bug the new code
    hit, a payload it cannot read). Its timers fire into the failing task, so no reminder, no
    status change and no error reaches the desk from it; only Temporal's mark shows it. Nothing
    is lost (the history waits for a fixed worker), but nothing happens until a developer fixes
    and deploys. Ids only: `request_id` is the request it belongs to, when it does."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    workflow_type: str
    request_id: str | None
    problems: list[str]


def request_of_workflow(workflow_id: str) -> str | None:
    """The request a workflow belongs to: `dsr-<id>`, its `.suffix` children and its
    deferred erasure `dsr-<id>-deferred-erasure`; None for the orchestrator's own workflows.
    The codec's reading of workflow ids (which keys a payload), with the deferred erasure's
    suffix taken off: that one is sealed with the master key, but it is the request's all the
    same."""
    return request_id_of_workflow(workflow_id.removesuffix(RESERVED_REQUEST_ID_SUFFIX))


def _problem(mark: object) -> str:
    """A mark without its key: `category=WorkflowTaskFailed` → `WorkflowTaskFailed`, and
    `cause=WorkflowTaskFailedCauseWorkflowWorkerUnhandledFailure` →
    `WorkflowWorkerUnhandledFailure`."""
    text = str(mark)
    for prefix in ("category=", "cause=", "WorkflowTaskFailedCause"):
        text = text.removeprefix(prefix)
    return text


class Overview(BaseModel):
    """The desk's first screen: what is open, due soon, late, or waiting for a person."""

    model_config = ConfigDict(frozen=True)

    counts_by_status: dict[str, int]
    open: int
    due_this_week: int
    overdue: int
    needs_attention: int
    awaiting_decision: int
    awaiting_verification: int
    stuck: list[StuckWorkflow] | None = Field(
        default=None,
        description="running workflows whose code fails on every task (at most "
        f"{STUCK_LIST_CAP}); null: not known now (Temporal not reachable)",
    )


class ExtensionLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    request_id: str
    months: int | None
    reason: str
    due_at: AwareDatetime


class MonthlyReport(BaseModel):
    """One month's compliance figures, over the requests received in that month (local time).

    `on_time` / `late`: answered (completed, denied or cancelled) by / after the (possibly
    extended) deadline; `still_open`: not answered yet. Days to complete: completed requests,
    from receipt to completion, in days (fractional)."""

    model_config = ConfigDict(frozen=True)

    month: str
    generated_at: AwareDatetime
    received: int
    by_kind: dict[str, int]
    by_channel: dict[str, int]
    by_status: dict[str, int]
    on_time: int
    late: int
    still_open: int
    overdue_open: int
    completed: int
    median_days_to_complete: float | None
    p95_days_to_complete: float | None
    denials_by_reason: dict[str, int]
    extensions: list[ExtensionLine]
    retained_by_reason: dict[str, int] = Field(description="retained records (counts) by reason")
    retained_requests_by_reason: dict[str, int]
    recipients_notified: dict[str, int] = Field(description="requests notified, by recipient")


class ChartSeries(BaseModel):
    """The dashboard's charts: requests per week by kind; per month the median and p95 days to
    complete and the on-time rate."""

    model_config = ConfigDict(frozen=True)

    weeks: list[str]
    per_week_by_kind: dict[str, list[int]]
    months: list[str]
    median_days: list[float | None]
    p95_days: list[float | None]
    on_time_rate: list[float | None]


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """Nearest-rank percentile (what a person checks by hand: sort, count, take that one)."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


# The years a bound may name and still convert between Stockholm time and UTC (the store
# keeps UTC): every stored time lies in 0002-9998 (schemas.events.Rfc3339Time). A day outside
# them, as a filter, means "before everything" or "after everything"; a month there, no month.
_FIRST_YEAR, _LAST_YEAR = 2, 9998
_BEFORE_ALL = datetime(_FIRST_YEAR, 1, 1, tzinfo=UTC)
_AFTER_ALL = datetime(_LAST_YEAR + 1, 1, 1, tzinfo=UTC)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """'2026-11' → [1 Nov 00:00, 1 Dec 00:00) in Stockholm time, as aware datetimes."""
    try:
        year, number = (int(part) for part in month.split("-"))
        if not _FIRST_YEAR <= year <= _LAST_YEAR:
            raise ValueError(year)
        start = datetime(year, number, 1, tzinfo=LOCAL_ZONE)
    except ValueError as exc:
        raise ValueError(f"month must be YYYY-MM, not {month!r}") from exc
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=LOCAL_ZONE)
    return start, end


def day_start(day: date) -> datetime:
    """The first moment of `day` in Stockholm time."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_ZONE)


def _bound(value: date | datetime | None, *, inclusive_day: bool) -> datetime | None:
    """A date means a local day: as an upper bound, through the end of that day. A day no
    stored time can reach is the bound before (or after) everything, never an overflow."""
    if value is None:
        return None
    if value.year < _FIRST_YEAR:
        return _BEFORE_ALL
    if value.year > _LAST_YEAR:
        return _AFTER_ALL
    if isinstance(value, datetime):
        return value.replace(tzinfo=LOCAL_ZONE) if value.tzinfo is None else value
    return day_start(value + timedelta(days=1)) if inclusive_day else day_start(value)


DUE_SOON_DAYS = 7


def due_this_week(now: datetime) -> dict[str, Any]:
    """The list's filters for "due this week" (`query_from_filters`' arguments): open, not yet
    overdue (due at or after `now`: the overdue ones are their own card), and due by the end
    of the sixth (Stockholm) day after today. One definition, because the overview's count, its
    section and the list the card opens must show the same requests: a count of moments
    (`now + 7 days`) beside a list of days would disagree about the requests due on the last
    day, and a list without the lower bound would hold the overdue ones as well."""
    last_day = now.astimezone(LOCAL_ZONE).date() + timedelta(days=DUE_SOON_DAYS - 1)
    return {"open_only": True, "overdue": False, "due_before": last_day}


def _search_prefix(prefix: str | None) -> str | None:
    """A request-id prefix to search by, or ValueError: a control character (NUL above all,
    which PostgreSQL refuses in any text parameter) is in no request id."""
    if prefix and any(unicodedata.category(c) in ("Cc", "Cs") for c in prefix):
        raise ValueError("the search (a request id prefix) must not contain control characters")
    return prefix or None


def query_from_filters(
    *,
    status: Iterable[RequestStatus] = (),
    kind: Iterable[RequestKind] = (),
    channel: Iterable[Channel] = (),
    overdue: bool | None = None,
    open_only: bool = False,
    due_before: date | datetime | None = None,
    received_from: date | datetime | None = None,
    received_to: date | datetime | None = None,
    system_outcome: str | None = None,
    request_id_prefix: str | None = None,
    sort: SortField = SortField.RECEIVED_AT,
    descending: bool = True,
    limit: int | None = 50,
    cursor: str | None = None,
    now: datetime | None = None,
) -> RequestQuery:
    """The list's filters as the CLI, the API and the dashboard take them. Dates are local
    (Stockholm) days and inclusive: `due_before=2026-12-31` is "due by the end of 31 December",
    `received_from/received_to` the days from the start of one to the end of the other."""
    return RequestQuery(
        status=tuple(status),
        kind=tuple(kind),
        channel=tuple(channel),
        overdue=overdue,
        open_only=open_only,
        due_before=_bound(due_before, inclusive_day=True),
        received_from=_bound(received_from, inclusive_day=False),
        received_before=_bound(received_to, inclusive_day=True),
        system_outcome=system_outcome or None,
        request_id_prefix=_search_prefix(request_id_prefix),
        sort=sort,
        descending=descending,
        limit=limit,
        cursor=cursor or None,
        now=now,
    )


def _answered_at(summary: RequestSummary) -> datetime | None:
    if summary.status not in TERMINAL_STATUSES:
        return None
    return summary.completed_at or summary.updated_at


def _days(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 86400, 2)


def _denial_code(summary: RequestSummary) -> str:
    """The denial's reason code: from the deny decision (a DPO's or the 30-day verification
    timeout's), else the summary's reason."""
    for decision in reversed(summary.decisions):
        if decision.decision.value == "deny":
            code = decision.details.get("reason_code") or decision.reason
            if code:
                return str(code)
    return summary.reason or "unspecified"


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value if isinstance(value, dict) else {}


def build_report(month: str, summaries: list[RequestSummary], now: datetime) -> MonthlyReport:
    """The figures of `month` from the summaries received in it (pure: tests check it by hand)."""
    on_time = late = still_open = overdue_open = 0
    durations: list[float] = []
    denials: Counter[str] = Counter()
    retained: Counter[str] = Counter()
    retained_requests: Counter[str] = Counter()
    recipients: Counter[str] = Counter()
    extensions: list[ExtensionLine] = []
    for summary in summaries:
        answered = _answered_at(summary)
        if answered is None:
            still_open += 1
            overdue_open += summary.due_at < now
        elif answered <= summary.due_at:
            on_time += 1
        else:
            late += 1
        if summary.status is RequestStatus.COMPLETED and summary.completed_at is not None:
            durations.append(_days(summary.received_at, summary.completed_at))
        if summary.status is RequestStatus.DENIED:
            denials[_denial_code(summary)] += 1
        extension = summary.extension
        if extension is not None:
            document = _as_dict(extension)
            extensions.append(
                ExtensionLine(
                    request_id=summary.request_id,
                    months=document.get("months"),
                    reason=str(document.get("reason", "")),
                    due_at=summary.due_at,
                )
            )
        reasons_here: set[str] = set()
        notified_here: set[str] = set()
        for system in summary.systems:
            for item in system.retained:
                retained[item.reason.value] += item.count
                reasons_here.add(item.reason.value)
            notified_here.update(system.notified)
        retained_requests.update(reasons_here)
        recipients.update(notified_here)
    return MonthlyReport(
        month=month,
        generated_at=now,
        received=len(summaries),
        by_kind=dict(sorted(Counter(s.kind.value for s in summaries).items())),
        by_channel=dict(sorted(Counter(s.channel.value for s in summaries).items())),
        by_status=dict(sorted(Counter(s.status.value for s in summaries).items())),
        on_time=on_time,
        late=late,
        still_open=still_open,
        overdue_open=overdue_open,
        completed=len(durations),
        median_days_to_complete=median(durations),
        p95_days_to_complete=percentile(durations, 0.95),
        denials_by_reason=dict(sorted(denials.items())),
        extensions=sorted(extensions, key=lambda e: e.request_id),
        retained_by_reason=dict(sorted(retained.items())),
        retained_requests_by_reason=dict(sorted(retained_requests.items())),
        recipients_notified=dict(sorted(recipients.items())),
    )


def _week_label(moment: datetime) -> str:
    year, week, _ = moment.astimezone(LOCAL_ZONE).isocalendar()
    return f"{year}-W{week:02d}"


def build_charts(
    summaries: list[RequestSummary], now: datetime, weeks: int, months: int
) -> ChartSeries:
    local_now = now.astimezone(LOCAL_ZONE)
    week_labels = [_week_label(local_now - timedelta(weeks=n)) for n in range(weeks - 1, -1, -1)]
    month_labels: list[str] = []
    year, number = local_now.year, local_now.month
    for _ in range(months):
        month_labels.append(f"{year:04d}-{number:02d}")
        year, number = (year, number - 1) if number > 1 else (year - 1, 12)
    month_labels.reverse()
    per_week: dict[str, list[int]] = {k.value: [0] * weeks for k in RequestKind}
    week_index = {label: i for i, label in enumerate(week_labels)}
    by_month: dict[str, list[RequestSummary]] = defaultdict(list)
    for summary in summaries:
        index = week_index.get(_week_label(summary.received_at))
        if index is not None:
            per_week[summary.kind.value][index] += 1
        by_month[f"{summary.received_at.astimezone(LOCAL_ZONE):%Y-%m}"].append(summary)
    medians: list[float | None] = []
    p95s: list[float | None] = []
    rates: list[float | None] = []
    for label in month_labels:
        report = build_report(label, by_month.get(label, []), now)
        medians.append(report.median_days_to_complete)
        p95s.append(report.p95_days_to_complete)
        answered = report.on_time + report.late
        rates.append(round(100 * report.on_time / answered, 1) if answered else None)
    return ChartSeries(
        weeks=week_labels,
        per_week_by_kind={k: v for k, v in per_week.items() if any(v)},
        months=month_labels,
        median_days=medians,
        p95_days=p95s,
        on_time_rate=rates,
    )


def _deadline_in_zone(summary: RequestSummary, zone: ZoneInfo) -> RequestSummary:
    """The store keeps instants in UTC; the legal deadline is the end of a day in the company's
    time zone and is shown as such (23:59:59.999999+01:00), as the workflow publishes it."""
    changes: dict[str, object] = {"due_at": summary.due_at.astimezone(zone)}
    if summary.extension is not None:
        changes["extension"] = summary.extension.model_copy(
            update={"due_at": summary.extension.due_at.astimezone(zone)}
        )
    return summary.model_copy(update=changes)


class Desk:
    """The DPO's reads. Open with `await Desk.open(settings)` (store + Temporal, connected
    lazily) or build with an open `Store` and, optionally, a live-status function."""

    def __init__(
        self,
        store: Store,
        live_status: TemporalStatus | None = None,
        zone: ZoneInfo = LOCAL_ZONE,
    ) -> None:
        self.store = store
        self.live_status = live_status
        self.zone = zone

    @classmethod
    async def open(cls, settings: Settings, *, migrate: bool = True) -> Desk:
        store = await Store.open(settings.database_url, migrate=migrate)
        zone = ZoneInfo(load_configured_policy(settings).time_zone)
        return cls(store, TemporalStatus(settings), zone)

    async def close(self) -> None:
        await self.store.close()

    # -- one request -----------------------------------------------------------------------------

    async def summary(
        self, request_id: str
    ) -> tuple[RequestSummary, Literal["live", "store"]] | None:
        """The request's current state: live from its running workflow, else the stored one.
        None for an id no request can have (`schemas.events.is_valid_request_id`: intake
        refuses any other), without asking the store or Temporal: a NUL byte is an error on
        PostgreSQL, and an over-long id one on Temporal, where it is simply no request."""
        if not is_valid_request_id(request_id):
            return None
        stored = await self.store.get_request(request_id)
        if (stored is None or stored.status not in TERMINAL_STATUSES) and self.live_status:
            live = await self.live_status(request_id)
            if live is not None:
                return live, "live"
        return None if stored is None else (_deadline_in_zone(stored, self.zone), "store")

    async def get_request(self, request_id: str, now: datetime | None = None) -> RequestView | None:
        found = await self.summary(request_id)
        if found is None:
            return None
        summary, source = found
        now = now or datetime.now(UTC)
        trail = [TimelineEntry.of(e) for e in await self.store.audit_trail(request_id)]
        record = await self.store.get_completion_record(request_id)
        return RequestView(
            scope=await self._scope_to_decide(summary, source),
            summary=summary,
            source=source,
            record=record,
            follow_ups=follow_up_views(record),
            restriction_lift=restriction_lift_view(summary, record),
            restricted_since=restricted_since(summary),
            timeline=trail,
            decisions=[e for e in trail if e.action is AuditAction.DECISION],
            allowed_decisions=allowed_decisions(summary, now, record),
            overdue=_is_overdue(summary, now),
            days_left=days_left(summary, now),
            due_date=_due_day(summary),
            extension_unavailable=extension_unavailable(summary, now),
        )

    async def _scope_to_decide(
        self, summary: RequestSummary, source: Literal["live", "store"]
    ) -> Scope | None:
        """The scope of a request waiting for the DPO (None otherwise, or if unreadable now)."""
        if source != "live" or summary.status is not RequestStatus.AWAITING_DECISION:
            return None
        if self.live_status is None:
            return None
        try:
            scope = await self.live_status.scope(summary.request_id)
        except Exception as error:  # a page without the scope beats no page at all
            log.warning("scope not readable", error_type=type(error).__name__)
            return None
        return scope if scope is not None and (scope.systems or scope.purposes) else None

    # -- the list --------------------------------------------------------------------------------

    async def list_requests(self, query: RequestQuery) -> RequestPage:
        now = query.clock()
        pinned = query if query.now is not None else query.model_copy(update={"now": now})
        pinned, counted = await self._plan_outcome(pinned)
        rows, cursor = await self.store.query_requests(pinned)
        # Counted on the first page only: the later pages of the same list have the same total,
        # and counting is the costly part of a page on a large store.
        total = None if query.cursor else await self.store.count_requests(counted, LIST_COUNT_CAP)
        return RequestPage(
            items=[
                RequestListItem(
                    summary=row,
                    overdue=_is_overdue(row, now),
                    days_left=days_left(row, now),
                    due_date=_due_day(row),
                )
                for row in rows
            ],
            next_cursor=cursor,
            total=None if total is None else min(total, LIST_COUNT_CAP),
            total_is_lower_bound=total is not None and total > LIST_COUNT_CAP,
        )

    async def _plan_outcome(self, query: RequestQuery) -> tuple[RequestQuery, RequestQuery]:
        """The query for the page and the one for its count, each with the `OutcomePlan` its
        outcome filter calls for (see orchestrator.store._queries). The count (and a list
        without a limit) scans when the outcome is common at all; the page scans only when
        its rows are found within the first WALK_PROBE_ROWS of its order, and looks its
        matches up otherwise (a common outcome far down the order, or a rare one)."""
        if not query.system_outcome:
            return query, query
        # Both probes in one statement: a round trip costs more than either (a few ms each).
        walk = build_walk_probe(query) if query.limit is not None else sa.select(sa.literal(0))
        probes = sa.select(build_outcome_probe(query).scalar_subquery(), walk.scalar_subquery())
        async with self.store.engine.connect() as conn:
            matches, near = (await conn.execute(probes)).one()
        dense = matches > DENSE_OUTCOME_MATCHES
        page_scans = dense and (query.limit is None or near > query.limit)
        plan = {True: OutcomePlan.SCAN, False: OutcomePlan.LOOKUP}
        return (
            query.model_copy(update={"outcome_plan": plan[page_scans]}),
            query.model_copy(update={"outcome_plan": plan[dense]}),
        )

    async def overview(self, now: datetime | None = None) -> Overview:
        now = now or datetime.now(UTC)
        counts = await self.store.count_by_status()
        open_count = sum(n for s, n in counts.items() if RequestStatus(s) not in TERMINAL_STATUSES)
        return Overview(
            counts_by_status={s.value: counts.get(s.value, 0) for s in RequestStatus},
            open=open_count,
            due_this_week=await self.store.count_requests(
                query_from_filters(**due_this_week(now), now=now)
            ),
            overdue=await self.store.count_requests(RequestQuery(overdue=True, now=now)),
            needs_attention=counts.get(RequestStatus.NEEDS_ATTENTION.value, 0),
            awaiting_decision=counts.get(RequestStatus.AWAITING_DECISION.value, 0),
            awaiting_verification=counts.get(RequestStatus.AWAITING_VERIFICATION.value, 0),
            stuck=await self.stuck(),
        )

    async def stuck(self) -> list[StuckWorkflow] | None:
        """Workflows that take no step (`StuckWorkflow`); None when Temporal cannot say now."""
        if self.live_status is None:
            return None
        return await self.live_status.stuck()

    # -- reports and charts ----------------------------------------------------------------------

    async def _received_between(self, start: datetime, end: datetime) -> list[RequestSummary]:
        query = RequestQuery(
            received_from=start, received_before=end, limit=None, sort=SortField.RECEIVED_AT
        )
        rows, _ = await self.store.query_requests(query)
        return rows

    async def monthly_report(self, month: str, now: datetime | None = None) -> MonthlyReport:
        start, end = month_bounds(month)
        now = now or datetime.now(UTC)
        return build_report(month, await self._received_between(start, end), now)

    async def charts(
        self, now: datetime | None = None, *, weeks: int = 12, months: int = 6
    ) -> ChartSeries:
        now = now or datetime.now(UTC)
        local = now.astimezone(LOCAL_ZONE)
        first_month = datetime(local.year, local.month, 1, tzinfo=LOCAL_ZONE)
        for _ in range(months - 1):
            first_month = (first_month - timedelta(days=1)).replace(day=1)
        start = min(first_month, now - timedelta(weeks=weeks))
        summaries = await self._received_between(start, now + timedelta(days=1))
        return build_charts(summaries, now, weeks, months)


class AmbiguityView(BaseModel):
    """The identifiers the subject gave, for a request held on an ambiguous match: personal data,
    shown to a DPO only so they can establish who the subject is (then `narrow_subject`)."""

    model_config = ConfigDict(frozen=True)

    request_id: str
    identifiers: dict[str, str | list[str]]
    ambiguous_systems: dict[str, str]


class NotAmbiguous(LookupError):
    """The request is not held on an ambiguous match: there is nothing the DPO needs to see."""


async def identifiers_for_ambiguity(
    desk: Desk, request_id: str, actor: str, now: datetime | None = None
) -> AmbiguityView:
    """The identifiers behind an ambiguous match, read from the workflow's (encrypted) input.

    Audited first: the entry (`identifiers_viewed`, actor, which fields — never their values)
    is in the trail before any identifier leaves this function. Raises `NotAmbiguous` unless a
    system of the request is `manual` (held for a person), LookupError if it is unknown."""
    found = await desk.summary(request_id)
    if found is None:
        raise LookupError(request_id)
    summary, _ = found
    held = {
        s.system: s.reason or "ambiguous identity"
        for s in summary.systems
        if s.outcome is SystemOutcome.MANUAL
    }
    if not held or summary.status in TERMINAL_STATUSES or desk.live_status is None:
        raise NotAmbiguous(request_id)
    subject = await desk.live_status.subject(request_id)
    shown = {
        name: value
        for name, value in subject.model_dump(mode="json", exclude_none=True).items()
        if value not in ([], "", None)
    }
    moment = now or datetime.now(UTC)
    await desk.store.append_audit(
        AuditEvent(
            request_id=request_id,
            action=AuditAction.IDENTIFIERS_VIEWED,
            actor=actor,
            at=moment,
            details={"view": "ambiguity", "fields": sorted(shown)},
            dedupe_key=f"identifiers-viewed/{request_id}/{actor}/{moment.isoformat()}",
        )
    )
    return AmbiguityView(request_id=request_id, identifiers=shown, ambiguous_systems=held)


class TemporalStatus:
    """The live status of a request from its workflow (a typed query), connected on first use.
    None when the workflow does not exist, has no worker, or Temporal is unreachable: the caller
    then shows the stored state, which is never more than one status change behind."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Any = None

    async def client(self) -> Any:
        if self._client is None:
            from orchestrator.temporal_client import connect_temporal

            self._client = await connect_temporal(
                self._settings, creates_keys=False
            )  # decisions: never a new key
        return self._client

    async def subject(self, request_id: str) -> Subject:
        """The subject as the request named them: the workflow's first input, decrypted by the
        payload codec. Personal data: only `identifiers_for_ambiguity` calls this."""
        return (await self._request(request_id)).subject

    async def scope(self, request_id: str) -> Scope | None:
        """The customer's scope (systems, purposes) as the request gave it: what the DPO
        decides on when a scope holds the request (workflows/dsr.py, SCOPE_GATE_PATCH)."""
        return (await self._request(request_id)).scope

    async def _request(self, request_id: str) -> DsrRequestedData:
        from schemas.workflow import DsrWorkflowInput, workflow_id_for

        client = await self.client()
        handle = client.get_workflow_handle(workflow_id_for(request_id))
        async for event in handle.fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            [params] = await client.data_converter.decode(
                started.input.payloads, [DsrWorkflowInput]
            )
            assert isinstance(params, DsrWorkflowInput)
            return params.request
        raise LookupError(request_id)

    async def stuck(self, limit: int = STUCK_LIST_CAP) -> list[StuckWorkflow] | None:
        """The running workflows Temporal marks as failing every task, oldest mark first as
        the server lists them; None if Temporal does not answer within a few seconds."""
        from temporalio.service import RPCError

        try:
            async with asyncio.timeout(_STUCK_TIMEOUT):
                client = await self.client()
                found = []
                async for execution in client.list_workflows(
                    STUCK_QUERY, limit=limit, rpc_timeout=timedelta(seconds=_STUCK_TIMEOUT)
                ):
                    problems = execution.search_attributes.get("TemporalReportedProblems", [])
                    found.append(
                        StuckWorkflow(
                            workflow_id=execution.id,
                            workflow_type=execution.workflow_type,
                            request_id=request_of_workflow(execution.id),
                            problems=[_problem(p) for p in problems],
                        )
                    )
                return found
        except (RPCError, RuntimeError, OSError, TimeoutError, ValueError) as error:
            log.warning("stuck workflows not listed", error_type=type(error).__name__)
            self._client = None
            return None

    async def __call__(self, request_id: str) -> RequestSummary | None:
        from temporalio.client import WorkflowQueryFailedError, WorkflowQueryRejectedError
        from temporalio.service import RPCError

        from schemas.workflow import workflow_id_for
        from workflows.dsr import DsrWorkflow

        try:
            client = await self.client()
            handle = client.get_workflow_handle_for(DsrWorkflow.run, workflow_id_for(request_id))
            live: RequestSummary | None = await handle.query(
                DsrWorkflow.status, rpc_timeout=_LIVE_QUERY_TIMEOUT
            )
            return live
        except (RPCError, WorkflowQueryFailedError, WorkflowQueryRejectedError):
            return None  # no such workflow, no worker polling, or Temporal unreachable
        except (RuntimeError, OSError, TimeoutError, ValueError):
            # Not connected (unreachable, or no payload keys here): reconnect next time.
            self._client = None
            return None
