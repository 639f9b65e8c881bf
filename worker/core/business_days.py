"""Business-day arithmetic for post-mortem deadlines: Monday to Friday, in a given time zone.

Pure functions: the time zone is an argument and nothing reads a clock. Times keep their
clock time across days (resolved Friday 15:00, two business days later is Tuesday 15:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

SATURDAY = 5


def is_business_day(moment: datetime, tz: ZoneInfo) -> bool:
    return moment.astimezone(tz).weekday() < SATURDAY


def _step(moment: datetime, tz: ZoneInfo, direction: int) -> datetime:
    """One business day later (direction 1) or earlier (-1), same wall-clock time in `tz`."""
    local = moment.astimezone(tz).replace(tzinfo=None)
    while True:
        local += timedelta(days=direction)
        if local.weekday() < SATURDAY:
            return local.replace(tzinfo=tz).astimezone(UTC)


def add_business_days(start: datetime, days: int, tz: ZoneInfo) -> datetime:
    """`days` business days after `start` (weekends skipped; a weekend start counts from Monday)."""
    moment = start.astimezone(UTC)
    for _ in range(days):
        moment = _step(moment, tz, 1)
    return moment


def previous_business_day(moment: datetime, tz: ZoneInfo) -> datetime:
    return _step(moment, tz, -1)


def business_days_since(start: datetime, now: datetime, tz: ZoneInfo) -> int:
    """How many whole business days have passed from `start` to `now` (0 if none)."""
    count = 0
    moment = start
    while True:
        moment = _step(moment, tz, 1)
        if moment > now:
            return count
        count += 1
