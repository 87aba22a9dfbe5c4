"""When the Regulation itself applies: a fact the intake checks before any deadline exists.

Kept apart from `policy.deadlines` (which loads the holiday tables of every country) so the
intake, which imports no legal clock, can refuse a receipt before that day cheaply.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

__all__ = ["GDPR_APPLIES_AT", "GDPR_APPLIES_FROM"]

# Art. 99(2): the Regulation applies from 25 May 2018. No data-subject request under it can
# have been received earlier; a receipt day before it is a producer's error, not a deadline.
GDPR_APPLIES_FROM = date(2018, 5, 25)
# Its first moment in the company's time zone (the receipt day is a Stockholm day, as in
# policy.deadlines.receipt_day): received_at earlier than this is a receipt day before it.
GDPR_APPLIES_AT = datetime.combine(GDPR_APPLIES_FROM, time(0), ZoneInfo("Europe/Stockholm"))
