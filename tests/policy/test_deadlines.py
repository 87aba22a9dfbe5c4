"""The statutory deadline (Regulation 1182/71 Art. 3 in Europe/Stockholm) over a table of dates:
month ends, leap years, weekends, Easter and the other Swedish holidays, time zones and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy.deadlines import (
    DeadlineCalendar,
    deadline,
    due_date,
    is_working_day,
    legal_due_at,
    local_date,
    period_end,
    receipt_day,
    reminders_for,
    repeat_window_start,
    verification_deadline,
)
from policy.gdpr import GDPR_APPLIES_AT, GDPR_APPLIES_FROM

STOCKHOLM = ZoneInfo("Europe/Stockholm")
EVES_OFF = DeadlineCalendar(eves_are_holidays=True)


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM)


# (received, months, due date, why)
TABLE = [
    ("2026-04-30T10:00", 1, "2026-06-01", "30 May is a Saturday: the next working day"),
    ("2026-12-01T14:57", 1, "2027-01-04", "1 Jan is New Year's Day, then a weekend"),
    ("2026-05-31T09:00", 1, "2026-06-30", "a working day: no move"),
    ("2025-01-31T09:00", 1, "2025-02-28", "no 31 February: the last day of the month"),
    ("2026-01-31T09:00", 1, "2026-03-02", "28 Feb 2026 is a Saturday"),
    ("2027-01-31T09:00", 1, "2027-03-01", "28 Feb 2027 is a Sunday"),
    ("2028-01-31T09:00", 1, "2028-02-29", "leap year: 29 February exists"),
    ("2024-01-30T09:00", 1, "2024-02-29", "leap year, 30 Jan → 29 Feb (a Thursday)"),
    ("2026-03-03T09:00", 1, "2026-04-07", "Good Friday, the Easter weekend and Easter Monday"),
    ("2026-04-14T09:00", 1, "2026-05-15", "Ascension Day (Thu 14 May)"),
    ("2025-05-06T09:00", 1, "2025-06-09", "National Day (Fri 6 June), weekend, Whit Sunday"),
    ("2026-04-01T09:00", 1, "2026-05-04", "May Day (Fri 1 May) and a weekend"),
    ("2025-12-06T09:00", 1, "2026-01-07", "Epiphany (Tue 6 January)"),
    ("2026-09-30T09:00", 1, "2026-10-30", "DST ends in between (+02:00 → +01:00)"),
    ("2026-11-25T09:00", 1, "2026-12-28", "Christmas Day, Boxing Day, Sunday"),
    ("2026-05-19T09:00", 1, "2026-06-19", "Midsummer Eve is a working day by default"),
    ("2026-11-24T09:00", 1, "2026-12-24", "Christmas Eve is a working day by default"),
    ("2026-10-31T09:00", 2, "2026-12-31", "New Year's Eve is a working day by default"),
    ("2026-04-30T10:00", 3, "2026-07-30", "extended by two months: three from receipt"),
    ("2026-03-25T09:00", 1, "2026-04-27", "DST begins in between (+01:00 → +02:00)"),
]


@pytest.mark.parametrize(("received", "months", "due", "why"), TABLE, ids=[t[3] for t in TABLE])
def test_deadline_table(received: str, months: int, due: str, why: str) -> None:
    day, at = deadline(_local(received), months)
    assert day == date.fromisoformat(due), why
    assert at == datetime.fromisoformat(f"{due}T23:59:59.999999").replace(tzinfo=STOCKHOLM)
    assert is_working_day(day)


@pytest.mark.parametrize(
    ("received", "months", "due"),
    [
        ("2026-05-19T09:00", 1, "2026-06-22"),  # Midsummer Eve, Midsummer Day, Sunday
        ("2026-11-24T09:00", 1, "2026-12-28"),  # Christmas Eve … Sunday
        ("2026-10-31T09:00", 2, "2027-01-04"),  # New Year's Eve, New Year's Day, weekend
    ],
)
def test_eves_as_non_working_days_is_a_policy_setting(received: str, months: int, due: str) -> None:
    assert due_date(_local(received), months, EVES_OFF) == date.fromisoformat(due)


def test_the_issue_example_serialises_with_its_offset() -> None:
    at = legal_due_at(_local("2026-04-30T10:00"))
    assert at.isoformat() == "2026-06-01T23:59:59.999999+02:00"
    winter = legal_due_at(datetime(2026, 12, 1, 14, 57, tzinfo=UTC))
    assert winter.isoformat() == "2027-01-04T23:59:59.999999+01:00"


def test_receipt_day_is_the_stockholm_date_whatever_the_utc_date() -> None:
    # 00:30 on 1 March in Stockholm is still 28 February in UTC.
    received = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)
    assert receipt_day(received) == date(2026, 3, 1)
    assert due_date(received) == date(2026, 4, 1)  # not 30 March (from 28 Feb)
    # and at 23:30 local on the 31st of December it is still that day, not 1 January
    assert receipt_day(datetime(2026, 12, 31, 22, 30, tzinfo=UTC)) == date(2026, 12, 31)


def test_dst_offsets_follow_the_due_day() -> None:
    assert legal_due_at(_local("2026-09-30T09:00")).utcoffset() == timedelta(hours=1)
    assert legal_due_at(_local("2026-03-25T09:00")).utcoffset() == timedelta(hours=2)


def test_naive_receipt_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        due_date(datetime(2026, 4, 30, 10, 0))


def test_reminders_fire_seven_days_and_one_day_before_and_when_overdue() -> None:
    at = legal_due_at(_local("2026-04-30T10:00"))
    keys = [(r.key, r.at) for r in reminders_for(at)]
    assert keys == [
        ("7_days_left", at - timedelta(days=7)),
        ("1_day_left", at - timedelta(days=1)),
        ("overdue", at + timedelta(microseconds=1)),
    ]


@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
    ),
    st.integers(min_value=1, max_value=3),
)
def test_due_date_is_the_first_working_day_on_or_after_the_period_end(
    received: datetime, months: int
) -> None:
    end = period_end(received, months)
    day = due_date(received, months)
    assert is_working_day(day)
    assert end <= day < end + timedelta(days=7)
    assert all(not is_working_day(end + timedelta(days=n)) for n in range((day - end).days))


def test_the_gdpr_begins_on_the_receipt_day_the_legal_clock_computes() -> None:
    """The intake's bound (policy.gdpr, no holiday tables) is the first moment of the receipt
    day 2018-05-25 as `receipt_day` counts days: Stockholm time, whatever the offset given."""
    assert receipt_day(GDPR_APPLIES_AT) == GDPR_APPLIES_FROM == date(2018, 5, 25)
    assert receipt_day(GDPR_APPLIES_AT - timedelta(microseconds=1)) == date(2018, 5, 24)
    assert datetime(2018, 5, 24, 22, 0, tzinfo=UTC) == GDPR_APPLIES_AT  # CEST, UTC+2


_MOMENTS = st.datetimes(
    min_value=datetime(2019, 1, 1), max_value=datetime(2070, 12, 31), timezones=st.just(UTC)
)


@given(received=_MOMENTS, wait_days=st.integers(min_value=1, max_value=90))
def test_an_unverified_request_is_denied_before_its_due_day_begins(
    received: datetime, wait_days: int
) -> None:
    """Art. 12(4): the subject is told why within the month, whatever the policy's wait."""
    limit = verification_deadline(received, wait_days)
    due_day = due_date(received)
    assert limit <= datetime.combine(due_day, datetime.min.time(), tzinfo=STOCKHOLM)
    assert limit < legal_due_at(received)
    assert limit <= received + timedelta(days=wait_days)
    # Never cut short for no reason: the wait, or the whole time up to the due day.
    assert limit in (
        received + timedelta(days=wait_days),
        datetime.combine(due_day, datetime.min.time(), tzinfo=STOCKHOLM),
    )


@pytest.mark.parametrize(
    ("received", "denied_at"),
    [
        ("2025-02-03T12:00", "2025-03-03T00:00"),  # 30 days on: 5 March, after the due day
        ("2025-01-31T12:00", "2025-02-28T00:00"),  # due 28 February
        ("2024-01-30T23:30", "2024-02-29T00:00"),  # a leap year
        ("2025-03-03T12:00", "2025-04-02T12:00"),  # a long month: the policy's 30 days
    ],
)
def test_verification_deadline_table(received: str, denied_at: str) -> None:
    assert verification_deadline(_local(received), 30) == _local(denied_at)


@given(moment=_MOMENTS, months=st.integers(min_value=1, max_value=24))
def test_the_repeat_window_is_one_instant_whatever_the_offset_it_was_written_with(
    moment: datetime, months: int
) -> None:
    written = [moment, moment.astimezone(STOCKHOLM), moment.astimezone(ZoneInfo("Asia/Tokyo"))]
    starts = {repeat_window_start(m, months) for m in written}
    assert len({s.astimezone(UTC) for s in starts}) == 1
    start = next(iter(starts)).astimezone(STOCKHOLM)
    assert start.day <= moment.astimezone(STOCKHOLM).day  # clamped at a shorter month's end


def test_the_repeat_window_counts_on_the_stockholm_wall_clock() -> None:
    # The last minutes of February in UTC are already 1 March in Stockholm.
    start = repeat_window_start(datetime(2025, 2, 28, 23, 30, tzinfo=UTC), 12)
    assert start == _local("2024-03-01T00:30")


def test_today_is_the_stockholm_day() -> None:
    assert local_date(datetime(2029, 12, 31, 23, 30, tzinfo=UTC)) == date(2030, 1, 1)
    assert local_date(datetime(2030, 6, 30, 21, 59, tzinfo=UTC)) == date(2030, 6, 30)
    assert local_date(datetime(2030, 6, 30, 22, 0, tzinfo=UTC)) == date(2030, 7, 1)
    with pytest.raises(ValueError, match="aware"):
        local_date(datetime(2030, 1, 1))
