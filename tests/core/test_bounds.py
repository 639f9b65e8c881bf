"""What the worker writes stays within Trello's limits, from tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import a_policy
from worker.core import bounds, header, rules

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
INCIDENT, _ = rules.declare("c1", "Checkout", "b1", by="alice", at=T0, policy=a_policy())
FULL = header.render(INCIDENT)


@pytest.mark.parametrize(
    ("text", "room", "fitted"),
    [
        ("short", 100, "short"),
        ("a" * 100, 100, "a" * 100),
        # whole lines kept while they fit, then the line that says the rest is left out
        ("one\ntwo\n" + "x" * 200, 100 + len(bounds.CUT), "one\ntwo" + bounds.CUT),
        # one line too long alone: cut in it
        ("y" * 300, 100 + len(bounds.CUT), "y" * 100 + bounds.CUT),
    ],
)
def test_a_comment_fits_its_room(text: str, room: int, fitted: str) -> None:
    assert bounds.fit(text, room) == fitted
    assert len(bounds.fit(text, room)) <= room


@pytest.mark.parametrize(
    ("theirs", "header_shown", "note"),
    [
        ("", "full", False),
        ("n" * (bounds.TEXT_MAX - len(FULL) - 2), "full", False),
        ("n" * (bounds.TEXT_MAX - len(FULL) - 1), "short", False),
        ("n" * (bounds.TEXT_MAX - 200), "short", False),
        ("n" * (bounds.TEXT_MAX - 100), "none", True),
        ("n" * bounds.TEXT_MAX, "none", True),
    ],
)
def test_the_header_gives_way_to_peoples_text(theirs: str, header_shown: str, note: bool) -> None:
    fitted = header.fit(theirs, INCIDENT)
    written = fitted.description if fitted.description is not None else theirs
    assert written.endswith(theirs) and len(written) <= bounds.TEXT_MAX  # never cut
    shown = (
        "none"
        if not written.startswith(header.FIRST_LINE)
        else "full"
        if "Template" in written
        else "short"
    )
    assert (shown, fitted.note is not None) == (header_shown, note)
    again = header.fit(written, INCIDENT)  # written once: nothing more to write
    assert again.description is None


def test_a_header_left_off_is_taken_off_a_description_that_had_one() -> None:
    theirs = "n" * (bounds.TEXT_MAX - 100)
    had = header.compose(FULL, "old notes")
    fitted = header.fit(header.compose(FULL, theirs), INCIDENT)
    assert fitted.description == theirs and fitted.note == header.LEFT_OFF
    assert header.fit(had, INCIDENT).description is None
