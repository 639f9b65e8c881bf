"""Long texts and writes Trello refuses: the worker stays within Trello's limits, says once what
it could not write, and the board goes on. In-process, against the served sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import (
    served_worker,
    worker_comments,
)
from worker.core import bounds, header, keys
from worker.core.model import Comment
from worker.demo import Person
from worker.runtime.worker import Worker
from worker.sandbox import Sandbox
from worker.sandbox import app as sandbox_app

Scene = tuple[Worker, Person, Sandbox]


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    with served_worker(tmp_path) as served:
        yield served


def labelled(worker: Worker, alice: Person, sb: Sandbox, name: str, desc: str = "") -> str:
    card = alice.create_card(sb.board_ids[0], name)
    if desc:
        alice.client.get_card(card.id).set_description(desc)
    alice.label(card.id, "Incident")
    worker.cycle(reconcile=False)
    return str(card.id)


def test_a_long_workaround_is_quoted_in_part_and_the_board_goes_on(scene: Scene) -> None:
    worker, alice, sb = scene
    card = labelled(worker, alice, sb, "Checkout is down")
    alice.comment(card, "/workaround " + "restart the payment service; " * 555)  # 16,107 in all
    worker.cycle(reconcile=False)
    (announced,) = [t for t in worker_comments(sb, card) if t.startswith("**Workaround in place**")]
    assert len(announced) <= bounds.TEXT_MAX and "…" in announced
    assert worker.store.incidents.get(card).phase.value == "workaround"  # type: ignore[union-attr]
    assert (
        "Incident declared" in worker_comments(sb, labelled(worker, alice, sb, "Search is slow"))[0]
    )


def test_a_description_with_no_room_keeps_its_text_and_the_header_is_left_off_once(
    scene: Scene,
) -> None:
    worker, alice, sb = scene
    theirs = "Our notes. " * 1480  # 16,280 characters: no room for any header
    card = labelled(worker, alice, sb, "Checkout is down", desc=theirs)
    worker.cycle(reconcile=True)
    assert alice.client.get_card(card).description == theirs  # never cut
    notes = [t for t in worker_comments(sb, card) if t.startswith(header.LEFT_OFF)]
    assert len(notes) == 1
    # with a little room, a short header: the phase and the roles
    incident = worker.store.incidents.get(card)
    assert incident is not None
    full = len(header.render(incident))
    short = full - len(header.render(incident).split("\n", 5)[5]) + len(header.LAST_LINE) + 2
    some = theirs[: bounds.TEXT_MAX - 2 - (full + short) // 2]
    alice.client.get_card(card).set_description(some)
    worker.cycle(reconcile=True)
    shown = alice.client.get_card(card).description
    assert shown.startswith(header.FIRST_LINE) and shown.endswith(some)
    assert "- Phase: **investigating**" in shown and "Template" not in shown
    assert len(shown) <= bounds.TEXT_MAX


def test_a_write_trello_refuses_is_said_once_and_never_retried(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker, alice, sb = scene
    monkeypatch.setattr(sandbox_app, "MAX_TEXT", 300)  # the header, the declared comment: longer
    card = labelled(worker, alice, sb, "Checkout is down")
    posts = len([r for r in sb.request_log if r.method == "POST" and "comments" in r.path])
    for _ in range(3):
        worker.cycle(reconcile=True)
    texts = worker_comments(sb, card)
    assert [t.split(":")[0] for t in texts] == [
        "I could not write the status header on this card",
        "I could not write a comment on this card",
    ]
    assert "Trello refused it (" in texts[1]
    again = len([r for r in sb.request_log if r.method == "POST" and "comments" in r.path])
    assert again == posts  # nothing tried again
    second = labelled(worker, alice, sb, "Search is slow")  # the board went on
    assert worker.store.incidents.get(second) is not None


def test_a_marker_a_person_pasted_is_no_proof_the_worker_posted(scene: Scene) -> None:
    """After a crash mid-post, the worker looks for its comment's marker on the card: only its
    own comments count, or a member could silence it by pasting the marker."""
    worker, alice, sb = scene
    card = labelled(worker, alice, sb, "Checkout is down")
    incident = worker.store.incidents.get(card)
    assert incident is not None
    reminder = Comment(card, "remind-detection-1", "Reminder 1: tell everyone.")
    key = keys.comment_key(incident, reminder.key)
    assert worker.store.claims.claim(key, card)  # claimed, then the worker died: "sending"
    alice.comment(card, f"look: `{keys.marker(key)}`")
    worker.handler.executor.comment(incident, reminder)
    assert any(t.startswith("Reminder 1: tell everyone.") for t in worker_comments(sb, card))
    assert worker.store.claims.state(key) == "sent"
