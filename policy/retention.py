"""Until-dates: how long a record outlives an erasure request, computed from its own facts.

Per record, not per category: each invoice gets the until-date of its own financial year, so
a customer with invoices from 2022 to 2026 has the 2022 ones erasable from 2030-01-01 while the
2026 ones are kept until 2033-12-31.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from policy.model import RetentionKind, RetentionPolicy
from schemas.results import RecordFacts

__all__ = ["Retention", "add_months", "bookkeeping_until", "erasable_at", "retention_for"]


def add_months(day: date, months: int) -> date:
    """Same date `months` later, clamped to the end of a shorter month (31 Aug + 6 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def bookkeeping_until(financial_year_end: date, years: int) -> date:
    """Bokföringslagen 7 kap. 2 §: until the end of the `years`-th year after the end of the
    calendar year in which the financial year ended (FY ending 2022-06-30 → 2029-12-31 for 7)."""
    return date(financial_year_end.year + years, 12, 31)


def erasable_at(until: date, time_zone: str) -> datetime:
    """Kept through `until`; erasable from 00:00 of the next day in the company's time zone."""
    return datetime.combine(until + timedelta(days=1), time.min, tzinfo=ZoneInfo(time_zone))


@dataclass(frozen=True)
class Retention:
    """Whether a group of records must be kept on `today`, and until when (None: open-ended)."""

    keep: bool
    until: date | None = None


_ERASABLE = Retention(keep=False)


def retention_for(rule: RetentionPolicy, facts: RecordFacts, today: date) -> Retention:
    """Apply `rule` to one group of records. Kept through the until-date, erasable the day after.

    A rule whose fact is missing (no financial-year end reported for a bookkeeping record) keeps
    the record open-ended: the safe side of a legal obligation is to keep, and the plan says so.
    """
    match rule.kind:
        case RetentionKind.NONE:
            return _ERASABLE
        case RetentionKind.INDEFINITE:
            return Retention(keep=True)
        case RetentionKind.BOOKKEEPING:
            if facts.financial_year_end is None:
                return Retention(keep=True)
            assert rule.years is not None  # the model requires it
            until = bookkeeping_until(facts.financial_year_end, rule.years)
            return Retention(keep=True, until=until) if today <= until else _ERASABLE
        case RetentionKind.AFTER_CREATION:
            if facts.created_on is None:
                return Retention(keep=True)
            assert rule.months is not None
            until = add_months(facts.created_on, rule.months)
            return Retention(keep=True, until=until) if today <= until else _ERASABLE
        case RetentionKind.WHILE_CONTRACT:
            if facts.contract_active is False:
                return _ERASABLE
            if facts.contract_end is not None and facts.contract_end < today:
                return _ERASABLE
            if facts.contract_active is None and facts.contract_end is None:
                return _ERASABLE  # nothing says a contract runs
            return Retention(keep=True, until=facts.contract_end)
        case RetentionKind.LEGAL_HOLD:
            return Retention(keep=True) if facts.legal_hold else _ERASABLE
