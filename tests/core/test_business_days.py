"""Post-mortem deadlines in business days, from a table."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from worker.core.business_days import add_business_days, business_days_since, previous_business_day

UTC_ZONE = ZoneInfo("UTC")
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "days", "tz", "expected"),
    [
        ("2026-03-06 15:00", 2, UTC_ZONE, "2026-03-10 15:00"),  # Friday -> Tuesday
        ("2026-03-02 09:00", 2, UTC_ZONE, "2026-03-04 09:00"),  # Monday -> Wednesday
        ("2026-03-05 09:00", 1, UTC_ZONE, "2026-03-06 09:00"),  # Thursday -> Friday
        ("2026-03-07 12:00", 2, UTC_ZONE, "2026-03-10 12:00"),  # Saturday -> Tuesday
        ("2026-03-08 12:00", 1, UTC_ZONE, "2026-03-09 12:00"),  # Sunday -> Monday
        ("2026-03-06 15:00", 0, UTC_ZONE, "2026-03-06 15:00"),
        ("2026-03-06 15:00", 10, UTC_ZONE, "2026-03-20 15:00"),  # two whole weeks
        # Friday 23:30 UTC is Saturday 00:30 in Stockholm: one business day on is Monday 00:30 there
        ("2026-03-06 23:30", 1, STOCKHOLM, "2026-03-08 23:30"),
        # across the spring clock change (29 March): 09:00 local stays 09:00 local
        ("2026-03-27 08:00", 1, STOCKHOLM, "2026-03-30 07:00"),
    ],
)
def test_add_business_days(start: str, days: int, tz: ZoneInfo, expected: str) -> None:
    assert add_business_days(utc(start), days, tz) == utc(expected)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-03-10 15:00", "2026-03-09 15:00"),  # Tuesday -> Monday
        ("2026-03-09 15:00", "2026-03-06 15:00"),  # Monday -> Friday
    ],
)
def test_previous_business_day(moment: str, expected: str) -> None:
    assert previous_business_day(utc(moment), UTC_ZONE) == utc(expected)


@pytest.mark.parametrize(
    ("start", "now", "expected"),
    [
        ("2026-03-10 15:00", "2026-03-10 16:00", 0),
        ("2026-03-10 15:00", "2026-03-11 14:59", 0),
        ("2026-03-10 15:00", "2026-03-11 15:00", 1),
        ("2026-03-13 15:00", "2026-03-15 18:00", 0),  # Friday to Sunday: no business day
        ("2026-03-13 15:00", "2026-03-16 15:00", 1),
        ("2026-03-10 15:00", "2026-03-24 15:00", 10),
    ],
)
def test_business_days_since(start: str, now: str, expected: int) -> None:
    assert business_days_since(utc(start), utc(now), UTC_ZONE) == expected
