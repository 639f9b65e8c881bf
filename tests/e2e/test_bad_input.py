"""Hostile input against the real worker process: Trello going wrong under it, odd cards, and
people's text that must be quoted, never interpreted. The worker's loop always goes on and
nothing already recorded is lost.

Things people cannot do through Trello's API (revoke the worker's token, delete a board, rename
a label) are done straight in the sandbox's state, under its lock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import live_markup
from tests.e2e.conftest import (
    FAST,
    IncidentFactory,
    StageFactory,
    SupportFactory,
    checklist_names,
)
from tests.e2e.harness import Stage, stage
from worker.core.bounds import NAME_MAX
from worker.core.header import FIRST_LINE, LAST_LINE
from worker.core.quoting import quote
from worker.demo import wait_for

pytestmark = pytest.mark.e2e

WORKER = "incident-worker"
AUTH_HINT = "check TRELLO_API_KEY and TRELLO_TOKEN"
LONGEST_NAME = 16384  # Trello's longest card name


def worker_requests(scene: Stage, since: int = 0) -> list[tuple[str, str, int]]:
    """(method, path, status) of the requests the worker sent (401s carry no member)."""
    return [
        (r.method, r.path, r.status)
        for r in scene.sandbox.request_log[since:]
        if r.member_username in (WORKER, None)
    ]


def warnings(log: str) -> list[str]:
    return [line for line in log.splitlines() if " WARNING " in line or " ERROR " in line]


def header_of(scene: Stage, card_id: str) -> str:
    desc = str(scene.card(card_id)["desc"])
    assert desc.startswith(FIRST_LINE), desc
    return desc[: desc.index(LAST_LINE)]


def is_open(scene: Stage, card_id: str) -> bool:
    return "stood down" not in header_of(scene, card_id)


# -- the token revoked mid-run --------------------------------------------------------------


@dataclass
class Outage:
    """What one run saw: an incident, the worker's token revoked, restored, a new incident."""

    before: str  # the incident declared before the outage
    after: str  # the incident declared after it
    log: str  # the worker's log from the revocation to the recovery
    refused: int  # 401 answers in the measured window
    window: float  # seconds the window lasted
    alive: bool  # the worker process was running all along
    before_comments: list[str]
    before_header: str
    exit_code: int


@pytest.fixture(scope="module")
def outage() -> Iterator[Outage]:
    with stage(settings=FAST) as scene:
        scene.start_worker()
        before = scene.declare("Declared before the outage")

        state, worker_id = scene.sandbox.state, scene.sandbox.members["worker"].id
        token = state.members[worker_id].token
        mark = len(scene.worker_log())
        with state.lock:
            state.members[worker_id].token = "revoked-" + token[8:]
        wait_for(lambda: AUTH_HINT in scene.worker_log()[mark:], "the refusal reported")
        # Measuring a rate over a fixed window (nothing to wait for: the worker is refused).
        start, window = len(scene.sandbox.request_log), 3.0
        time.sleep(window)
        refused = sum(1 for _, _, status in worker_requests(scene, start) if status == 401)
        alive = scene.worker_running

        with state.lock:
            state.members[worker_id].token = token
        wait_for(lambda: "answers again" in scene.worker_log()[mark:], "the recovery", 30)
        log = scene.worker_log()[mark:]
        after = scene.declare("Declared after the outage")
        scene.wait_for_cycles(3)
        yield Outage(
            before=before,
            after=after,
            log=log,
            refused=refused,
            window=window,
            alive=alive and scene.worker_running,
            before_comments=scene.worker_comments(before),
            before_header=header_of(scene, before),
            exit_code=scene.stop_worker(),
        )


def test_a_revoked_token_is_named_and_the_worker_recovers(outage: Outage) -> None:
    assert outage.alive
    assert "Traceback" not in outage.log
    refusals = [line for line in warnings(outage.log) if AUTH_HINT in line]
    assert refusals, outage.log
    assert "answers again" in outage.log
    # the incident from before the outage is untouched: still open, no comment lost or repeated
    assert "Phase: **investigating**" in outage.before_header
    assert [t.startswith("**Incident declared**") for t in outage.before_comments] == [True]
    assert outage.exit_code == 0


def test_a_revoked_token_is_logged_once_and_retried_slowly(outage: Outage) -> None:
    refusals = [line for line in warnings(outage.log) if AUTH_HINT in line]
    assert len(refusals) == 1, "\n".join(refusals)
    cycles = outage.window / float(FAST["INCIDENT_POLL_SECONDS"])
    assert outage.refused <= cycles / 3, f"{outage.refused} refused requests in {outage.window} s"


# -- a board deleted mid-run ----------------------------------------------------------------


@dataclass
class Gone:
    """One run: two boards with an incident each; the second board deleted; a new incident."""

    board_name: str
    log: str
    kept: str  # the first board's incident, declared before the deletion
    new: str  # declared on the first board after the deletion
    kept_comments: list[str]
    new_comments: list[str]
    alive: bool
    exit_code: int


def delete_board(scene: Stage, board_id: str) -> str:
    """Delete a board with its lists, cards and checklists, as Trello does; its name."""
    state = scene.sandbox.state
    with state.lock:
        board = state.boards.pop(board_id)
        for card_id in [c.id for c in state.cards.values() if c.board_id == board_id]:
            for checklist_id in state.cards.pop(card_id).checklist_ids:
                state.checklists.pop(checklist_id, None)
        for list_id in [i for i, lst in state.lists.items() if lst.board_id == board_id]:
            del state.lists[list_id]
        return board.name


@pytest.fixture(scope="module")
def gone() -> Iterator[Gone]:
    with stage(boards=2, settings=FAST) as scene:
        second = scene.board_ids[1]
        scene.start_worker()
        kept = scene.declare("Board one is on fire")
        scene.declare("Board two is on fire", by="bob", board=second)

        mark = len(scene.worker_log())
        name = delete_board(scene, second)
        wait_for(lambda: name in scene.worker_log()[mark:], "the lost board reported")
        scene.wait_for_cycles(4)  # the first board's feed, read 8 more times: 1.6 s, 2 reconciles
        new = scene.declare("Declared after the other board went")
        scene.person("alice").comment(kept, "/communicator @bob")
        scene.wait_for_comment(kept, "Noted")
        alive = scene.worker_running
        yield Gone(
            board_name=name,
            log=scene.worker_log()[mark:],
            kept=kept,
            new=new,
            kept_comments=scene.worker_comments(kept),
            new_comments=scene.worker_comments(new),
            alive=alive,
            exit_code=scene.stop_worker(),
        )


def test_a_deleted_board_is_reported_and_the_other_keeps_working(gone: Gone) -> None:
    assert gone.alive and gone.exit_code == 0
    assert "Traceback" not in gone.log
    assert any(gone.board_name in line for line in warnings(gone.log))
    assert len(gone.new_comments) == 1 and "Lead: @alice" in gone.new_comments[0]
    assert [t.split("\n")[0][:20] for t in gone.kept_comments] == [
        "**Incident declared*",
        "Noted (communicator:",
    ]


def test_a_deleted_board_is_logged_once_naming_its_setting(gone: Gone) -> None:
    about = [line for line in warnings(gone.log) if gone.board_name in line]
    assert len(about) == 1, "\n".join(about)
    assert "TRELLO_BOARD_ID" in about[0]


# -- what people do to cards ----------------------------------------------------------------


def test_a_card_deleted_mid_incident_stops_its_reminders(
    declared_incident: IncidentFactory,
) -> None:
    scene, doomed = declared_incident("Deleted while it burns", INCIDENT_REMINDER_SECONDS="1")
    scene.wait_for_comment(doomed, "Reminder 1")
    scene.person("alice").client.get_card(doomed).delete()
    scene.wait_for_cycles(3)  # the deleteCard action is read

    mark = len(scene.sandbox.request_log)
    scene.wait_for_cycles(10)  # two reminder periods and two reconcile passes
    touching = [r for r in worker_requests(scene, mark) if doomed in r[1]]
    assert touching == []
    scene.declare("The next one")  # the worker goes on: a new incident is declared
    assert "Traceback" not in scene.worker_log()
    assert scene.stop_worker() == 0


def test_a_worker_comment_a_person_deleted_is_not_posted_again(
    declared_incident: IncidentFactory,
) -> None:
    scene, card = declared_incident("Too chatty")
    (declared,) = [c for c in scene.comments(card) if "Incident declared" in c["data"]["text"]]
    scene.person("alice").client.fetch_json(f"/actions/{declared['id']}", http_method="DELETE")
    assert scene.worker_comments(card) == []

    scene.wait_for_cycles(10)  # several feed reads and reconcile passes
    assert scene.worker_comments(card) == []
    assert checklist_names(scene.card(card)) == ["Until the problem is resolved"]
    assert is_open(scene, card)
    assert scene.stop_worker() == 0


@pytest.fixture
def renamed(declared_incident: IncidentFactory) -> tuple[Stage, str]:
    """An incident declared, then its label renamed (done in the sandbox: people cannot)."""
    scene, card = declared_incident("Labelled before the rename")
    rename_label(scene, "Incident", "Outage")
    return scene, card


def rename_label(scene: Stage, old: str, new: str) -> None:
    state = scene.sandbox.state
    with state.lock:
        (label,) = [item for item in state.labels.values() if item.name == old]
        label.name = new


def test_a_renamed_incident_label_leaves_running_incidents_alone(
    renamed: tuple[Stage, str],
) -> None:
    """Documented behaviour: while it runs, the worker knows the label by its id, so the card
    labelled before the rename stays an incident. At its next start it warns that the board has
    no label INCIDENT_LABEL (open incidents are never stood down for that)."""
    scene, card = renamed
    scene.wait_for_cycles(10)  # two reconcile passes
    assert is_open(scene, card)
    assert len(scene.worker_comments(card)) == 1

    assert scene.stop_worker() == 0
    mark = len(scene.worker_log())
    scene.start_worker()
    log = scene.worker_log()[mark:]
    assert any("no label 'Incident' (INCIDENT_LABEL)" in line for line in warnings(log))
    assert scene.worker_running
    assert scene.stop_worker() == 0


def test_a_renamed_incident_label_stands_nothing_down_after_a_restart(
    renamed: tuple[Stage, str],
) -> None:
    scene, card = renamed
    assert scene.stop_worker() == 0
    scene.start_worker()
    scene.wait_for_cycles(10)  # two reconcile passes
    assert [t for t in scene.worker_comments(card) if "stood down" in t] == []
    assert is_open(scene, card)


# -- long names and people's markup ---------------------------------------------------------

HOSTILE_NAME = "<script>alert(1)</script> **x** [link](javascript:alert(1)) @board"


def test_a_card_name_of_16384_characters_is_declared(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident("x" * LONGEST_NAME)
    assert "Lead: @alice" in scene.wait_for_comment(card, "Incident declared")
    assert checklist_names(scene.card(card)) == ["Until the problem is resolved"]
    assert "Phase: **investigating**" in header_of(scene, card)
    assert scene.stop_worker() == 0


def test_on_an_incident_board_a_long_name_is_shortened_visibly(
    declared_from_support: SupportFactory,
) -> None:
    scene, source, card_id = declared_from_support("y" * LONGEST_NAME, list_name="To Do")
    name = scene.card(card_id)["name"]
    assert name.startswith("Incident: yyy") and name.endswith("…")
    assert len(name) == NAME_MAX
    scene.wait_for_comment(source, "run on its own card")
    assert scene.stop_worker() == 0


def test_on_an_incident_board_the_source_name_is_quoted(
    declared_from_support: SupportFactory,
) -> None:
    scene, source, card_id = declared_from_support(HOSTILE_NAME, list_name="To Do")
    texts = [scene.card(card_id)["desc"], *scene.worker_comments(card_id)]
    texts += scene.worker_comments(source)
    assert [t for t in texts if live_markup(t)] == []


def test_unknown_people_in_role_commands_get_a_reply_and_change_nothing(
    declared_incident: IncidentFactory,
) -> None:
    scene, card = declared_incident("Who is who")
    alice = scene.person("alice")
    alice.comment(card, "/communicator @bob @nobody\n/delvers @carol @ghost_1\n/quickfixers")
    reply = scene.wait_for_comment(card, "I don't know")
    assert quote("@nobody") in reply and quote("@ghost_1") in reply
    assert "needs at least one @user" in reply
    assert "Noted" not in reply
    header = header_of(scene, card)
    assert "Communicator: (nobody yet)" in header and "Deep delvers: (nobody yet)" in header
    assert scene.sandbox.members["bob"].id not in scene.card(card)["idMembers"]
    assert scene.stop_worker() == 0


def test_peoples_markup_is_quoted_in_every_worker_comment_and_the_header(
    declared_incident: IncidentFactory,
) -> None:
    scene, card = declared_incident(HOSTILE_NAME)
    alice = scene.person("alice")
    alice.comment(card, "/lead @board")
    scene.wait_for_comment(card, "I don't know")
    alice.comment(card, "/workaround **<img src=x>** [link](javascript:alert(1)) @board")
    scene.wait_for_comment(card, "Workaround in place")
    alice.comment(card, "/allhands <script>alert(1)</script> [y](javascript:alert(2)) @card")
    allhands = scene.wait_for_comment(card, "All hands")
    alice.comment(card, "/resolved **fixed** <b>really</b> @board")
    scene.wait_for_comment(card, "**Resolved**")

    assert live_markup(header_of(scene, card)) == []
    # the all-hands call mentions @board on purpose, once, and nothing else is live in it
    assert allhands.count("@board") == 1
    texts = [t for t in scene.worker_comments(card) if t != allhands]
    texts.append(allhands.replace("@board", "", 1))
    assert [t for t in texts if live_markup(t)] == []
    assert scene.stop_worker() == 0


# -- a template of 5,000 items --------------------------------------------------------------

COMMUNICATE = """\
## Talk 📣

- Consider communicating:
  - [ ] When we first notice it 🔥 (see the [status page](https://status.example.com/)).
  - [ ] When there is a workaround 👩‍🔧.
  - [ ] When it is resolved ✅.
"""


def test_a_template_of_5000_items_declares_in_a_few_requests(
    make_stage: StageFactory, tmp_path: Path
) -> None:
    items = "".join(
        f"- [ ] Step {n} 🧯 [runbook](https://example.com/run/{n})\n" for n in range(5000)
    )
    template = tmp_path / "huge.md"
    template.write_text(f"# Huge\n\n## Everything\n\n{items}\n{COMMUNICATE}", encoding="utf-8")
    scene = make_stage(INCIDENT_TEMPLATE=str(template), INCIDENT_RATE_LIMIT="100000")
    # The template card is made once, one request per item (Trello has no bulk endpoint):
    # lift the sandbox's limits for that.
    scene.sandbox.rate_limit.set(100000, 100000, 10.0)
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "Everything is on fire")
    scene.start_worker(wait=False)
    wait_for(  # 5,000 requests: slow on a busy machine
        lambda: "template card v" in scene.worker_log(), "the template card made", 300
    )

    mark = len(scene.sandbox.request_log)
    alice.label(card.id, "Incident")
    declared = scene.wait_for_comment(card.id, "Incident declared")
    declaring = [r for r in worker_requests(scene, mark) if r[0] != "GET" or "/cards/" in r[1]]
    assert len(declaring) <= 8, declaring  # copies whole checklists, not 5,000 items
    assert "When we first notice it 🔥 (see the [status page](https://status.example.com/))." in (
        declared
    )
    now = scene.card(card.id)
    assert checklist_names(now) == ["Everything", "Talk 📣"]
    names = [item["name"] for item in now["checklists"][0]["checkItems"]]
    assert len(names) == 5000
    assert names[4999] == "Step 4999 🧯 [runbook](https://example.com/run/4999)"
    talk = [item["name"] for item in now["checklists"][1]["checkItems"]]
    assert talk[1] == "Consider communicating: When there is a workaround 👩‍🔧."
    assert scene.stop_worker() == 0
