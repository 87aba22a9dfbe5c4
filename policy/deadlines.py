"""The legal clock: GDPR Art. 12(3) gives one month from receipt of the request."""

from __future__ import annotations

import calendar
from datetime import datetime

__all__ = ["add_months", "legal_due_at"]


def add_months(moment: datetime, months: int) -> datetime:
    """Same day `months` later; clamped to the last day of a shorter month (31 Jan → 28/29 Feb)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def legal_due_at(received_at: datetime) -> datetime:
    return add_months(received_at, 1)
