"""Which incident an event belongs to, who declared a card found labelled, the incident card's
claim steps (pure, from tables)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.factories import a_policy
from worker.core import declaring, rules
from worker.core import trello_json as tj
from worker.core.declaring import CardStep, Go
from worker.core.model import Ended, Incident

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = a_policy(worker_member_id="w0")
COMMON = {
    "action_id": "a1",
    "at": T0,
    "member_id": "m1",
    "username": "alice",
    "card_id": "src",
    "card_name": "Checkout",
    "board_id": "b1",
    "short_link": "",
}
OPEN, _ = rules.declare("inc", "Incident: Checkout", "b0", by="alice", at=T0, policy=POLICY)
ENDED = OPEN.model_copy(update={"ended": Ended.STOOD_DOWN, "ended_at": T0})
LABELLED = tj.LabelAdded(**COMMON, label=" incident ")  # type: ignore[arg-type]
TICKED = tj.CheckItemChanged(**COMMON, checklist_id="c", item_id="i", item_name="x", complete=True)  # type: ignore[arg-type]
COMMENTED = tj.Commented(**COMMON, text="/workaround restarted")  # type: ignore[arg-type]
CREATED = tj.CardCreated(**COMMON, list_name="Doing")  # type: ignore[arg-type]
MADE_BY_WORKER = tj.CardCreated(**{**COMMON, "member_id": "w0"}, list_name="Doing")  # type: ignore[arg-type]
LABELLED_BY_WORKER = tj.LabelAdded(**{**COMMON, "member_id": "w0"}, label="Incident")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("event", "on_card", "linked", "elsewhere", "go", "incident"),
    [
        # a plain board: the event goes to the rules with the card's incident, or none
        (LABELLED, None, None, False, Go.DECIDE, None),
        (COMMENTED, OPEN, None, False, Go.DECIDE, OPEN),
        # the label on a card whose incident runs elsewhere declares there
        (LABELLED, None, None, True, Go.DECLARE_ELSEWHERE, None),
        (LABELLED, None, ENDED, True, Go.DECLARE_ELSEWHERE, None),
        # a source card's signals go to the incident it is linked to ...
        (COMMENTED, None, OPEN, True, Go.DECIDE, OPEN),
        (LABELLED, None, OPEN, True, Go.DECIDE, OPEN),
        # ... but not its own life (items ticked, archived)
        (TICKED, None, OPEN, True, Go.IGNORE, None),
        # anything else on a card of a board that runs incidents elsewhere: the rules decide
        (COMMENTED, None, None, True, Go.DECIDE, None),
        # a card that arrived (its labels are on it, not in an action): look at it
        (CREATED, None, None, False, Go.LOOK, None),
        (CREATED, None, None, True, Go.LOOK, None),
        (CREATED, ENDED, None, False, Go.LOOK, None),
        (CREATED, OPEN, None, False, Go.DECIDE, OPEN),
        (MADE_BY_WORKER, None, None, True, Go.DECIDE, None),  # the worker's own cards
        # `incident-worker declare`: the card's history has the roles given with it
        (LABELLED_BY_WORKER, None, None, False, Go.FOUND, None),
        (LABELLED_BY_WORKER, None, None, True, Go.FOUND, None),
        (LABELLED_BY_WORKER, ENDED, None, False, Go.FOUND, None),
        (LABELLED_BY_WORKER, OPEN, None, False, Go.DECIDE, OPEN),
    ],
)
def test_route(
    event: tj.Event,
    on_card: Incident | None,
    linked: Incident | None,
    elsewhere: bool,
    go: Go,
    incident: Incident | None,
) -> None:
    found = declaring.route(event, on_card, linked, runs_elsewhere=elsewhere, policy=POLICY)
    assert (found.go, found.incident) == (go, incident)


def _label(action_id: str, who: str, member_id: str, date: str, name: str = "Incident") -> tj.Json:
    return {
        "id": action_id,
        "type": "addLabelToCard",
        "date": date,
        "idMemberCreator": member_id,
        "memberCreator": {"id": member_id, "username": who},
        "data": {"card": {"id": "c1"}, "label": {"id": "l1", "name": name}},
    }


@pytest.mark.parametrize(
    ("history", "by", "at", "replay_from"),
    [
        ([], "", T0, None),  # no label in the history (older than its page): now, by nobody
        ([_label("a1", "bob", "m2", "2026-03-01T08:00:00.000Z")], "bob", "2026-03-01T08:00", 1),
        (  # the last time it went on counts; other labels do not
            [
                _label("a1", "bob", "m2", "2026-03-01T08:00:00.000Z"),
                _label("a2", "carol", "m3", "2026-03-01T09:00:00.000Z"),
                _label("a3", "dave", "m4", "2026-03-01T10:00:00.000Z", name="Workaround"),
            ],
            "carol",
            "2026-03-01T09:00",
            2,
        ),
        # a card created (copied, moved in...) with its labels: no label action; its arrival
        (
            [
                {**_label("a1", "carol", "m3", "2026-03-01T07:00:00.000Z"), "type": "createCard"},
                {**_label("a2", "bob", "m2", "2026-03-01T07:30:00.000Z"), "type": "commentCard"},
            ],
            "carol",
            "2026-03-01T07:00",
            1,
        ),
        (  # a label action, when there is one, wins over the arrival
            [
                {**_label("a1", "carol", "m3", "2026-03-01T07:00:00.000Z"), "type": "copyCard"},
                _label("a2", "bob", "m2", "2026-03-01T08:00:00.000Z"),
            ],
            "bob",
            "2026-03-01T08:00",
            2,
        ),
        # the worker's own label (`incident-worker declare`) is nobody's
        (
            [_label("a1", "bot", "w0", "2026-03-01T08:00:00.000Z", " INCIDENT ")],
            "",
            "2026-03-01T08:00",
            1,
        ),
    ],
)
def test_declared_by(
    history: list[tj.Json], by: str, at: datetime | str, replay_from: int | None
) -> None:
    found = declaring.declared_by(history, POLICY, T0)
    when = at if isinstance(at, datetime) else datetime.fromisoformat(at).replace(tzinfo=UTC)
    assert (found.by, found.at, found.replay_from) == (by, when, replay_from)


def _comment(action_id: str, member_id: str, text: str) -> tj.Json:
    return {
        **_label(action_id, "bot", member_id, "2026-03-01T07:59:00.000Z"),
        "type": "commentCard",
        "data": {"card": {"id": "c1"}, "text": text},
    }


GIVEN = "Roles given with `incident-worker declare`:\n/lead @Alice\n/communicator @bob"


@pytest.mark.parametrize(
    ("history", "given"),
    [
        ([_comment("a0", "w0", GIVEN)], {"lead": "alice", "communicator": "bob"}),
        ([_comment("a0", "m2", GIVEN)], {}),  # only the worker's own comment gives roles
        ([_comment("a0", "w0", "/lead @alice")], {}),  # and only that comment of its own
        (  # the last one before the label
            [_comment("a0", "w0", GIVEN), _comment("a1", "w0", GIVEN.split("\n/comm")[0])],
            {"lead": "alice"},
        ),
    ],
)
def test_roles_given_with_the_declare_command(
    history: list[tj.Json], given: dict[str, str]
) -> None:
    label = _label("a9", "bot", "w0", "2026-03-01T08:00:00.000Z")
    assert declaring.declared_by([*history, label], POLICY, T0).given == given
    # after the label they are a comment like any other
    assert declaring.declared_by([label, *history], POLICY, T0).given == {}


@pytest.mark.parametrize(
    ("state", "taken_over", "step"),
    [
        ("sent", False, CardStep.FETCH_RECORDED),
        ("sending", False, CardStep.WAIT),  # a live replica is making it
        ("sending", True, CardStep.SEARCH_THEN_MAKE),  # a gone one's claim: it may exist
        (None, False, CardStep.SEARCH_THEN_MAKE),  # never recorded (a lost database?): look
    ],
)
def test_card_claim(state: str | None, taken_over: bool, step: CardStep) -> None:
    assert declaring.card_claim(state, taken_over) is step
