"""Which worker keeps a board, from tables: the claims as written, read back, and judged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.core import keeping
from worker.core.keeping import Claim

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


OURS = Claim("aaaa0000", "web-1", 41, at(0), at(0))


def test_a_claim_reads_back_as_written() -> None:
    claim = Claim("0123456789ab", "web-2.example", 4242, at(-60), at(-2))
    assert claim.line() == (
        "Kept by incident-worker on `web-2.example` (process 4242) since 2026-03-02T08:00:00Z; "
        "last seen 2026-03-02T08:58:00Z; database `0123456789ab`."
    )
    text = f"The checklists of config/incident-template.md.\n\n{claim.line()}"
    assert keeping.read(text) == claim


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The checklists of config/incident-template.md.",
        # damaged by hand: a time that is no time, a zone missing, a database id that is none
        OURS.line().replace("2026-03-02T09:00:00Z", "yesterday", 1),
        OURS.line().replace("09:00:00Z", "09:00:00", 1),
        OURS.line().replace("`aaaa0000`", "`not-hex`"),
        "Kept by incident-worker on `a\nb` (process 1) since x; last seen y; database `ab12cd`.",
    ],
)
def test_what_is_no_claim_reads_as_none(text: str) -> None:
    assert keeping.read(text) is None


@pytest.mark.parametrize(
    ("description", "stamped"),
    [
        ("", OURS.line()),
        ("The checklists.", f"The checklists.\n\n{OURS.line()}"),
        (  # an older claim is replaced where it stands, the rest kept
            f"The checklists.\n\n{Claim('bbbb1111', 'x', 1, at(-9), at(-9)).line()}\nmore",
            f"The checklists.\n\n{OURS.line()}\nmore",
        ),
    ],
)
def test_stamping_writes_one_claim(description: str, stamped: str) -> None:
    assert keeping.stamped(description, OURS) == stamped


@pytest.mark.parametrize(
    ("claims", "now", "kept_by"),
    [
        ([], 0, None),
        ([OURS], 0, None),  # our own
        ([Claim("aaaa0000", "web-9", 7, at(-60), at(-1))], 0, None),  # a replica of ours
        # another database's, older and seen lately: theirs
        ([Claim("bbbb1111", "web-2", 7, at(-60), at(-1))], 0, "bbbb1111"),
        ([Claim("bbbb1111", "web-2", 7, at(-60), at(-14.9))], 0, "bbbb1111"),
        # ... until it lapses
        ([Claim("bbbb1111", "web-2", 7, at(-60), at(-15))], 0, None),
        # a newer one is not: it gives way to ours when it looks again
        ([Claim("bbbb1111", "web-2", 7, at(5), at(5))], 6, None),
        # made in the same instant: the database ids decide
        ([Claim("0000ffff", "web-2", 7, at(0), at(0))], 0, "0000ffff"),
        ([Claim("ffff0000", "web-2", 7, at(0), at(0))], 0, None),
        (  # of several, the oldest
            [
                Claim("cccc2222", "web-3", 8, at(-30), at(-1)),
                Claim("bbbb1111", "web-2", 7, at(-60), at(-1)),
            ],
            0,
            "bbbb1111",
        ),
    ],
)
def test_who_keeps_the_board(claims: list[Claim], now: float, kept_by: str | None) -> None:
    found = keeping.kept_by(claims, OURS, at(now))
    assert (found.database if found else None) == kept_by
