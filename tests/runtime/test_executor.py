"""The executor against the sandbox over real HTTP: every action is safe to repeat."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.factories import TEMPLATE, a_policy
from worker.core import header, observe, rules
from worker.core.keys import comment_key, marker
from worker.core.model import (
    AddChecklists,
    AddMembers,
    AttachReport,
    Comment,
    Effect,
    Incident,
    Policy,
    RefreshHeader,
)
from worker.errors import TrelloUnavailable
from worker.report import draft
from worker.runtime.executor import Executor
from worker.sandbox import Sandbox, SandboxServer
from worker.store.database import Store, TemplateCard
from worker.template import Stage, Template
from worker.trello.client import Json, Trello
from worker.trello.session import Credentials, RetryPolicy, TrelloSession

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Scene:
    sb: Sandbox
    server: SandboxServer
    trello: Trello
    store: Store
    executor: Executor
    board_id: str
    template_card: TemplateCard
    policy: Policy

    def new_card(self, name: str = "Checkout is down", desc: str = "") -> Json:
        (doing,) = [item for item in self.trello.lists(self.board_id) if item["name"] == "Doing"]
        return self.trello.create_card(doing["id"], name, desc=desc)

    def declare(self, card: Json) -> tuple[Incident, list[Effect]]:
        return rules.declare(
            card["id"], card["name"], self.board_id, by="alice", at=T0, policy=self.policy
        )

    def run(self, incident: Incident, effects: list[Effect]) -> Incident:
        """Settle, carry out and fold in, as the worker does."""
        outcome = self.executor.run(
            incident, rules.settle(incident, effects, self.policy), self.policy
        )
        if outcome.on_card is None:
            return incident
        return observe.checklists_found(incident, outcome.checklists, outcome.on_card, self.policy)

    def comments(self, card_id: str) -> list[str]:
        """The card's comment texts, straight from the sandbox's state (costs no request)."""
        return [
            a.data["text"] for a in self.sb.state.card_actions(card_id) if a.type == "commentCard"
        ]

    def checklist_names(self, card_id: str) -> list[str]:
        state = self.sb.state
        return [c.name for c in state.card_checklists(state.card(card_id))]

    def description(self, card_id: str) -> str:
        return self.sb.state.card(card_id).desc

    def puts_to(self, card_id: str) -> int:
        return sum(
            1 for r in self.sb.request_log if r.method == "PUT" and r.path == f"/1/cards/{card_id}"
        )


def make_template_card(trello: Trello, board_id: str, template: Template) -> TemplateCard:
    """The board's template card, built the way a person could: a card and its checklists."""
    first_list = trello.lists(board_id)[0]
    card = trello.create_card(first_list["id"], f"Incident template v{template.version}")
    checklists: dict[str, str] = {}
    for checklist in template.checklists:
        made = trello.create_checklist(card["id"], checklist.name)
        for item in checklist.items:
            trello.add_check_item(made["id"], item.name)
        checklists[checklist.name] = made["id"]
    return TemplateCard(board_id, template.version, card["id"], checklists)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    sb = Sandbox.seeded()
    with sb.serve() as server:
        credentials = Credentials(SecretStr(sb.api_key), SecretStr(sb.members["worker"].token))
        session = TrelloSession(
            server.url,
            credentials=credentials,
            retry=RetryPolicy(attempts=2, initial=0.01, maximum=0.02, jitter=0.0),
        )
        trello = Trello(session)
        store = Store.open(f"sqlite:///{tmp_path}/w.sqlite3")
        board_id = sb.board_ids[0]
        template_card = make_template_card(trello, board_id, TEMPLATE)
        executor = Executor(
            trello, store, template_card=lambda board: template_card, draft=draft.compose
        )
        policy = a_policy(TEMPLATE, sb.members["worker"].id)
        try:
            yield Scene(sb, server, trello, store, executor, board_id, template_card, policy)
        finally:
            trello.close()
            store.close()


def declared_comment(effects: list[Effect]) -> Comment:
    (comment,) = [a for a in effects if isinstance(a, Comment)]
    return comment


# -- comments -------------------------------------------------------------------------------


def test_a_comment_is_posted_once_however_often_it_is_asked_for(scene: Scene) -> None:
    card = scene.new_card()
    incident, effects = scene.declare(card)
    comment = declared_comment(effects)
    for _ in range(3):
        scene.executor.comment(incident, comment)
    (text,) = scene.comments(card["id"])
    assert text.startswith("**Incident declared** by @alice")
    key = comment_key(incident, comment.key)
    assert text.endswith(f"`{marker(key)}`")
    assert scene.store.claims.state(key) == "sent"


def test_different_comments_each_get_their_own_marker(scene: Scene) -> None:
    card = scene.new_card()
    incident, _ = scene.declare(card)
    first = Comment(card["id"], "reminder-1", "Reminder 1")
    second = Comment(card["id"], "reminder-2", "Reminder 2")
    scene.executor.comment(incident, first)
    scene.executor.comment(incident, second)
    texts = scene.comments(card["id"])
    assert [t.split("\n")[0] for t in texts] == ["Reminder 1", "Reminder 2"]
    for text, action in zip(texts, (first, second), strict=True):
        assert text.endswith(f"`{marker(comment_key(incident, action.key))}`")


@pytest.mark.parametrize(
    ("fault", "posted_while_failing"),
    [
        ("drop_after_rate", 1),  # Trello acted, the answer was lost: found by its marker
        ("drop_rate", 0),  # the request never arrived: posted on the next try
    ],
)
def test_a_dropped_post_is_posted_exactly_once_in_the_end(
    scene: Scene, fault: str, posted_while_failing: int
) -> None:
    card = scene.new_card()
    incident, effects = scene.declare(card)
    comment = declared_comment(effects)
    key = comment_key(incident, comment.key)

    scene.sb.faults.configure(**{fault: 1.0})
    with pytest.raises(TrelloUnavailable) as caught:
        scene.executor.comment(incident, comment)
    assert caught.value.applied_unknown
    assert scene.store.claims.state(key) == "sending"
    assert len(scene.comments(card["id"])) == posted_while_failing

    scene.sb.faults.reset()
    scene.executor.comment(incident, comment)
    (text,) = scene.comments(card["id"])
    assert text.endswith(f"`{marker(key)}`")
    assert len(scene.trello.card_actions(card["id"], action_filter="commentCard")) == 1
    assert scene.store.claims.state(key) == "sent"


@pytest.mark.parametrize(
    ("status", "maybe_applied", "state", "tries"),
    [
        (429, False, None, [429, 429]),  # Trello certainly did not act: retried, then released
        (500, True, "sending", [500]),  # Trello may have acted: kept, looked for before resending
    ],
)
def test_a_failed_post_keeps_its_claim_only_when_trello_may_have_acted(
    scene: Scene, status: int, maybe_applied: bool, state: str | None, tries: list[int]
) -> None:
    card = scene.new_card()
    incident, effects = scene.declare(card)
    comment = declared_comment(effects)
    key = comment_key(incident, comment.key)

    scene.sb.faults.configure(error_rate=1.0, statuses=(status,))
    with pytest.raises(TrelloUnavailable) as caught:
        scene.executor.comment(incident, comment)
    assert caught.value.applied_unknown is maybe_applied
    assert scene.store.claims.state(key) == state
    posts = [r for r in scene.sb.request_log if r.method == "POST" and r.path.endswith("/comments")]
    assert [r.status for r in posts] == tries

    scene.sb.faults.reset()
    scene.executor.comment(incident, comment)
    assert len(scene.comments(card["id"])) == 1
    assert scene.store.claims.state(key) == "sent"


def test_run_posts_the_comments_it_is_given_once(scene: Scene) -> None:
    card = scene.new_card()
    incident, effects = scene.declare(card)
    scene.run(incident, [a for a in effects if isinstance(a, Comment)])
    scene.run(incident, [a for a in effects if isinstance(a, Comment)])
    assert len(scene.comments(card["id"])) == 1


# -- checklists -----------------------------------------------------------------------------


def test_add_checklists_twice_puts_each_checklist_on_the_card_once(scene: Scene) -> None:
    card = scene.new_card()
    incident, _ = scene.declare(card)
    wanted = [c.name for c in TEMPLATE.for_stage(Stage.DECLARED)]
    assert wanted  # the default template declares with at least one checklist
    action = AddChecklists(card["id"], Stage.DECLARED)

    after = scene.run(incident, [action])
    # again from the incident as it was, as after a crash before it was saved
    again = scene.run(incident, [action])
    # and again from the incident as it was saved
    scene.run(after, [action])

    assert scene.checklist_names(card["id"]) == wanted
    assert after.checklists == again.checklists
    assert set(after.checklists) == set(wanted)
    on_card = {
        c.name: c.id for c in scene.sb.state.card_checklists(scene.sb.state.card(card["id"]))
    }
    assert after.checklists == on_card


def test_added_checklists_bring_the_template_items_and_the_comm_items(scene: Scene) -> None:
    card = scene.new_card()
    incident, _ = scene.declare(card)
    after = scene.run(incident, [AddChecklists(card["id"], Stage.DECLARED)])
    fetched = scene.trello.card(card["id"])
    by_name = {c["name"]: c for c in fetched["checklists"]}
    for checklist in TEMPLATE.for_stage(Stage.DECLARED):
        items = [i["name"] for i in by_name[checklist.name]["checkItems"]]
        assert items == [item.name for item in checklist.items]
    assert after.comm_items  # the communication items were found on the card
    for item in after.comm_items.values():
        assert item.checklist_id in after.checklists.values()


def test_a_checklist_a_person_removed_is_not_added_again(scene: Scene) -> None:
    card = scene.new_card()
    incident, _ = scene.declare(card)
    (first, *_rest) = [c.name for c in TEMPLATE.for_stage(Stage.DECLARED)]
    removed = incident.model_copy(update={"removed_checklists": (first,)})
    scene.run(removed, [AddChecklists(card["id"], Stage.DECLARED)])
    assert first not in scene.checklist_names(card["id"])


# -- the header -----------------------------------------------------------------------------


def test_refresh_header_keeps_what_people_wrote_and_writes_only_on_change(scene: Scene) -> None:
    notes = "Customers report 502s at checkout.\n\nSee the dashboard."
    card = scene.new_card(desc=notes)
    incident, _ = scene.declare(card)
    refresh = RefreshHeader(card["id"])

    scene.run(incident, [refresh])
    desc = scene.description(card["id"])
    assert header.split(desc) == (header.render(incident), notes)
    assert scene.puts_to(card["id"]) == 1

    scene.run(incident, [refresh])
    scene.run(incident, [refresh, refresh])
    assert scene.puts_to(card["id"]) == 1  # nothing changed, nothing written
    assert scene.description(card["id"]) == desc

    led = incident.model_copy(update={"lead": "carol", "communicator": "bob"})
    scene.run(led, [refresh])
    assert scene.puts_to(card["id"]) == 2
    current, rest = header.split(scene.description(card["id"]))
    assert current == header.render(led)
    assert "@carol" in current and "@bob" in current
    assert rest == notes


def test_refresh_header_keeps_what_a_person_added_below_it_later(scene: Scene) -> None:
    card = scene.new_card()
    incident, _ = scene.declare(card)
    scene.run(incident, [RefreshHeader(card["id"])])
    edited = scene.description(card["id"]) + "\n\nUpdate: rolled back the deploy."
    scene.trello.set_description(card["id"], edited)
    puts = scene.puts_to(card["id"])

    scene.run(incident, [RefreshHeader(card["id"])])
    assert scene.puts_to(card["id"]) == puts
    assert scene.description(card["id"]) == edited


# -- members --------------------------------------------------------------------------------


def test_add_members_twice_adds_each_person_once(scene: Scene) -> None:
    card = scene.new_card()
    incident, _ = scene.declare(card)
    action = AddMembers(card["id"], (scene.sb.members["bob"].id, scene.sb.members["carol"].id))
    scene.run(incident, [action])
    scene.run(incident, [action])
    ids = scene.sb.state.card(card["id"]).member_ids
    assert sorted(ids) == sorted([scene.sb.members["bob"].id, scene.sb.members["carol"].id])


# -- the post-mortem draft ------------------------------------------------------------------


def test_a_draft_whose_picture_cannot_be_drawn_is_attached_without_it(
    scene: Scene, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MPLBACKEND", "no-such-backend")  # the drawing process fails on it
    card = scene.new_card()
    incident, _ = scene.declare(card)
    scene.run(incident, [AttachReport(card["id"])])
    assert [a["name"] for a in scene.trello.attachments(card["id"])] == [draft.REPORT_NAME]
    (warned,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "without its picture" in warned and "no-such-backend" in warned
