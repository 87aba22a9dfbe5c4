"""The legal clock: GDPR Art. 12(3) periods computed as Regulation (EEC, Euratom) No 1182/71
Art. 3 says, in the company's time zone (Europe/Stockholm).

- The day of receipt is not counted (Art. 3(1)): a request received at 00:30 Stockholm time on
  the 1st was received on the 1st, whatever the UTC date.
- A period in months ends at the end of the day in the last month with the same date as the day
  of receipt, or of the last day of that month if it has no such date (Art. 3(2)(c)).
- A period ending on a Saturday, Sunday or Swedish public holiday ends at the end of the next
  working day (Art. 3(4)). Public holidays come from the `holidays` package's Sweden calendar.
  Whether Midsummer Eve, Christmas Eve and New Year's Eve are non-working days is a policy
  setting; the default treats them as working days (the stricter reading for the controller).
- The deadline is the last moment of that day in local time: 23:59:59.999999 with its offset.

Pure and deterministic (the workflow calls it): no I/O beyond the time-zone database and the
holiday tables, both fixed for a given installation.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

__all__ = [
    "ANSWER_PERIOD_MONTHS",
    "DEFAULT_CALENDAR",
    "MAX_EXTENSION_MONTHS",
    "REMINDERS",
    "REPEAT_WINDOW_MONTHS",
    "VERIFICATION_WAIT",
    "DeadlineCalendar",
    "Reminder",
    "add_months",
    "deadline",
    "due_at_of",
    "due_date",
    "end_of_day",
    "is_working_day",
    "legal_due_at",
    "local_date",
    "period_end",
    "receipt_day",
    "reminders_for",
    "repeat_window_start",
    "verification_deadline",
]

ANSWER_PERIOD_MONTHS = 1  # Art. 12(3): "within one month of receipt of the request"
MAX_EXTENSION_MONTHS = 2  # Art. 12(3): "extended by two further months where necessary"
REPEAT_WINDOW_MONTHS = 12  # the policy: one free copy of one's data a year
VERIFICATION_WAIT = timedelta(days=30)  # unverified requests are denied after this long


@dataclass(frozen=True)
class DeadlineCalendar:
    """Where and how the legal clock runs: the company's time zone and its non-working days."""

    time_zone: str = "Europe/Stockholm"
    # Midsummer Eve, Christmas Eve and New Year's Eve: de-facto days off in Sweden, but not public
    # holidays. False (default): they are working days, so a deadline may end on them.
    eves_are_holidays: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


DEFAULT_CALENDAR = DeadlineCalendar()


# Built once, at import: the `holidays` package reads its translation files when a calendar is
# made, which the workflow sandbox rightly refuses at call time. Years outside the table are
# computed on first use (outside a workflow).
_TABLE_YEARS = range(2015, 2081)


def _swedish_holidays(years: range | int) -> frozenset[date]:
    # include_sundays=False: Sundays are weekend days here already; only real holidays count.
    return frozenset(holidays.country_holidays("SE", years=years, include_sundays=False))


_TABLE = _swedish_holidays(_TABLE_YEARS)


@cache
def _public_holidays(year: int) -> frozenset[date]:
    if year in _TABLE_YEARS:
        return frozenset(d for d in _TABLE if d.year == year)
    return _swedish_holidays(year)


def _eves(year: int) -> frozenset[date]:
    """Midsummer Eve (the Friday from 19 to 25 June), Christmas Eve and New Year's Eve."""
    midsummer_eve = next(
        date(year, 6, day) for day in range(19, 26) if date(year, 6, day).weekday() == 4
    )
    return frozenset({midsummer_eve, date(year, 12, 24), date(year, 12, 31)})


def is_working_day(day: date, cal: DeadlineCalendar = DEFAULT_CALENDAR) -> bool:
    if day.weekday() >= 5 or day in _public_holidays(day.year):
        return False
    return not (cal.eves_are_holidays and day in _eves(day.year))


def add_months(moment: datetime, months: int) -> datetime:
    """Same day `months` later; clamped to the last day of a shorter month (31 Jan → 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _add_months_to_date(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def receipt_day(received_at: datetime, cal: DeadlineCalendar = DEFAULT_CALENDAR) -> date:
    """The day of receipt in the company's time zone (an aware `received_at` is required)."""
    return local_date(received_at, cal)


def period_end(
    received_at: datetime, months: int, cal: DeadlineCalendar = DEFAULT_CALENDAR
) -> date:
    """Art. 3(1) and 3(2)(c): the day a period of `months` from receipt ends, before Art. 3(4)."""
    if months < 1:
        raise ValueError(f"a period is at least one month, not {months}")
    return _add_months_to_date(receipt_day(received_at, cal), months)


def due_date(
    received_at: datetime,
    months: int = ANSWER_PERIOD_MONTHS,
    cal: DeadlineCalendar = DEFAULT_CALENDAR,
) -> date:
    """The last day of the period, moved past weekends and holidays (Art. 3(4))."""
    day = period_end(received_at, months, cal)
    while not is_working_day(day, cal):
        day += timedelta(days=1)
    return day


def end_of_day(day: date, cal: DeadlineCalendar = DEFAULT_CALENDAR) -> datetime:
    """23:59:59.999999 local time on `day`, with the offset in force then (CET or CEST)."""
    return datetime.combine(day, time.max, tzinfo=cal.zone)


def due_at_of(day: date, cal: DeadlineCalendar = DEFAULT_CALENDAR) -> datetime:
    return end_of_day(day, cal)


def deadline(
    received_at: datetime,
    months: int = ANSWER_PERIOD_MONTHS,
    cal: DeadlineCalendar = DEFAULT_CALENDAR,
) -> tuple[date, datetime]:
    """`(due_date, due_at)` of a period of `months` from receipt."""
    day = due_date(received_at, months, cal)
    return day, end_of_day(day, cal)


def legal_due_at(
    received_at: datetime,
    months: int = ANSWER_PERIOD_MONTHS,
    cal: DeadlineCalendar = DEFAULT_CALENDAR,
) -> datetime:
    """The last moment to answer: end of the due day in the company's time zone."""
    return deadline(received_at, months, cal)[1]


@dataclass(frozen=True)
class Reminder:
    """A durable reminder: `key` names it in the audit trail, `at` is when it fires."""

    key: str
    at: datetime
    overdue: bool = field(default=False)


REMINDERS: tuple[tuple[str, timedelta], ...] = (
    ("7_days_left", timedelta(days=7)),
    ("1_day_left", timedelta(days=1)),
)


def local_date(moment: datetime, cal: DeadlineCalendar = DEFAULT_CALENDAR) -> date:
    """The company's calendar day at `moment` (an aware datetime): the day retention, evidence
    and "today" are judged by. Until-dates are Stockholm days (`policy.retention.erasable_at`),
    so judging them by the UTC date would keep a record an hour or two past its last day
    every night (a whole financial year's vouchers at 00:30 on 1 January)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a moment the calendar reads must be timezone-aware")
    return moment.astimezone(cal.zone).date()


def verification_deadline(
    received_at: datetime, wait_days: int, cal: DeadlineCalendar = DEFAULT_CALENDAR
) -> datetime:
    """When an unverified request is denied: after the policy's wait, but never later than the
    start (00:00 local) of the one-month due day. Art. 12(4): the controller that does not act
    "shall inform the data subject without delay and at the latest within one month of receipt"
    of why; a wait of 30 days is longer than a month whenever that month holds February. The
    due day itself is left for the denial to reach the subject (a denial at the due moment's
    last microsecond would reach the portal after it, and the clock would already call the
    request overdue)."""
    waited = received_at + timedelta(days=wait_days)
    due_day = due_date(received_at, ANSWER_PERIOD_MONTHS, cal)
    return min(waited, datetime.combine(due_day, time.min, tzinfo=cal.zone))


def repeat_window_start(
    received_at: datetime, months: int, cal: DeadlineCalendar = DEFAULT_CALENDAR
) -> datetime:
    """The start of the window in which an earlier copy request makes this one a repeat: the
    same local moment `months` earlier. Counted on the company's wall clock, so the same instant
    gives the same window whatever offset the portal wrote it with (`…T23:30Z` and
    `…T00:30+01:00` on the last day of February are one moment)."""
    return add_months(received_at.astimezone(cal.zone), -months)


def reminders_for(due_at: datetime) -> list[Reminder]:
    """When 7 days and 1 day remain before `due_at`, and the moment it has passed (overdue)."""
    moments = [Reminder(key, due_at - before) for key, before in REMINDERS]
    return [*moments, Reminder("overdue", due_at + timedelta(microseconds=1), overdue=True)]
