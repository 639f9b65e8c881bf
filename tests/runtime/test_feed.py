"""The order a poll's actions are handled in: each card's in order, a few cards at once."""

from __future__ import annotations

import pytest

from worker.runtime.feed import in_steps


@pytest.mark.parametrize(
    ("cards", "steps"),
    [
        ([], []),
        (["a"], [[[0]]]),
        (["a", "a", "a"], [[[0, 1, 2]]]),
        (["a", "b", "a", "c"], [[[0, 2], [1], [3]]]),
        # an action on the board itself: a step of its own, between the cards' before and after
        (["a", "", "b"], [[[0]], [[1]], [[2]]]),
        (["a", "b", "", "", "a", "b"], [[[0], [1]], [[2]], [[3]], [[4], [5]]]),
        (["", "a", "b", "a"], [[[0]], [[1, 3], [2]]]),
    ],
)
def test_in_steps(cards: list[str], steps: list[list[list[int]]]) -> None:
    assert in_steps(cards) == steps
