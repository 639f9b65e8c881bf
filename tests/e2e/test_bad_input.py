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
from tests.e2e.conftest import FAST, StageFactory, checklist_names
from tests.e2e.harness import Stage, stage
from worker.core.header import FIRST_LINE, LAST_LINE
from worker.core.quoting import quote
from worker.demo import wait_for
from worker.runtime.incident_board import source_marker

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
        board = scene.board_ids[0]
        alice = scene.person("alice")
        scene.start_worker()
        before = alice.create_card(board, "Declared before the outage")
        alice.label(before.id, "Incident")
        scene.wait_for_comment(before.id, "Incident declared")

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
        alive = scene.process is not None and scene.process.poll() is None

        with state.lock:
            state.members[worker_id].token = token
        wait_for(lambda: "answers again" in scene.worker_log()[mark:], "the recovery", 30)
        log = scene.worker_log()[mark:]
        after = alice.create_card(board, "Declared after the outage")
        alice.label(after.id, "Incident")
        scene.wait_for_comment(after.id, "Incident declared")
        scene.wait_for_cycles(3)
        yield Outage(
            before=before.id,
            after=after.id,
            log=log,
            refused=refused,
            window=window,
            alive=alive and scene.process is not None and scene.process.poll() is None,
            before_comments=scene.worker_comments(before.id),
            before_header=header_of(scene, before.id),
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
        first, second = scene.board_ids
        alice, bob = scene.person("alice"), scene.person("bob")
        scene.start_worker()
        kept = alice.create_card(first, "Board one is on fire")
        doomed = bob.create_card(second, "Board two is on fire")
        alice.label(kept.id, "Incident")
        bob.label(doomed.id, "Incident")
        scene.wait_for_comment(kept.id, "Incident declared")
        scene.wait_for_comment(doomed.id, "Incident declared")

        mark = len(scene.worker_log())
        name = delete_board(scene, second)
        wait_for(lambda: name in scene.worker_log()[mark:], "the lost board reported")
        scene.wait_for_cycles(4)  # the first board's feed, read 8 more times: 1.6 s, 2 reconciles
        new = alice.create_card(first, "Declared after the other board went")
        alice.label(new.id, "Incident")
        scene.wait_for_comment(new.id, "Incident declared")
        alice.comment(kept.id, "/communicator @bob")
        scene.wait_for_comment(kept.id, "Noted")
        alive = scene.process is not None and scene.process.poll() is None
        yield Gone(
            board_name=name,
            log=scene.worker_log()[mark:],
            kept=kept.id,
            new=new.id,
            kept_comments=scene.worker_comments(kept.id),
            new_comments=scene.worker_comments(new.id),
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


def test_a_card_deleted_mid_incident_stops_its_reminders(make_stage: StageFactory) -> None:
    scene = make_stage(INCIDENT_REMINDER_SECONDS="1")
    alice = scene.person("alice")
    board = scene.board_ids[0]
    doomed = alice.create_card(board, "Deleted while it burns")
    scene.start_worker()
    alice.label(doomed.id, "Incident")
    scene.wait_for_comment(doomed.id, "Reminder 1")
    alice.client.get_card(doomed.id).delete()
    scene.wait_for_cycles(3)  # the deleteCard action is read

    mark = len(scene.sandbox.request_log)
    scene.wait_for_cycles(10)  # two reminder periods and two reconcile passes
    touching = [r for r in worker_requests(scene, mark) if doomed.id in r[1]]
    assert touching == []
    # the worker goes on: a new incident is declared
    other = alice.create_card(board, "The next one")
    alice.label(other.id, "Incident")
    scene.wait_for_comment(other.id, "Incident declared")
    assert "Traceback" not in scene.worker_log()
    assert scene.stop_worker() == 0


def test_a_worker_comment_a_person_deleted_is_not_posted_again(make_stage: StageFactory) -> None:
    scene = make_stage()
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "Too chatty")
    scene.start_worker()
    alice.label(card.id, "Incident")
    scene.wait_for_comment(card.id, "Incident declared")
    (declared,) = [c for c in scene.comments(card.id) if "Incident declared" in c["data"]["text"]]
    alice.client.fetch_json(f"/actions/{declared['id']}", http_method="DELETE")
    assert scene.worker_comments(card.id) == []

    scene.wait_for_cycles(10)  # several feed reads and reconcile passes
    assert scene.worker_comments(card.id) == []
    assert checklist_names(scene.card(card.id)) == ["Until the problem is resolved"]
    assert is_open(scene, card.id)
    assert scene.stop_worker() == 0


def test_a_renamed_incident_label_leaves_running_incidents_alone(make_stage: StageFactory) -> None:
    """Documented behaviour: while it runs, the worker knows the label by its id, so the card
    labelled before the rename stays an incident. At its next start it warns that the board has
    no label INCIDENT_LABEL (open incidents are never stood down for that)."""
    scene = make_stage()
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "Labelled before the rename")
    scene.start_worker()
    alice.label(card.id, "Incident")
    scene.wait_for_comment(card.id, "Incident declared")
    rename_label(scene, "Incident", "Outage")
    scene.wait_for_cycles(10)  # two reconcile passes
    assert is_open(scene, card.id)
    assert len(scene.worker_comments(card.id)) == 1

    assert scene.stop_worker() == 0
    mark = len(scene.worker_log())
    scene.start_worker()
    log = scene.worker_log()[mark:]
    assert any("no label 'Incident' (INCIDENT_LABEL)" in line for line in warnings(log))
    assert scene.process is not None and scene.process.poll() is None
    assert scene.stop_worker() == 0


def test_a_renamed_incident_label_stands_nothing_down_after_a_restart(
    make_stage: StageFactory,
) -> None:
    scene = make_stage()
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "Labelled before the rename")
    scene.start_worker()
    alice.label(card.id, "Incident")
    scene.wait_for_comment(card.id, "Incident declared")
    rename_label(scene, "Incident", "Outage")
    assert scene.stop_worker() == 0
    scene.start_worker()
    scene.wait_for_cycles(10)  # two reconcile passes
    assert [t for t in scene.worker_comments(card.id) if "stood down" in t] == []
    assert is_open(scene, card.id)


def rename_label(scene: Stage, old: str, new: str) -> None:
    state = scene.sandbox.state
    with state.lock:
        (label,) = [item for item in state.labels.values() if item.name == old]
        label.name = new


# -- long names and people's markup ---------------------------------------------------------

HOSTILE_NAME = "<script>alert(1)</script> **x** [link](javascript:alert(1)) @board"


def test_a_card_name_of_16384_characters_is_declared(make_stage: StageFactory) -> None:
    scene = make_stage()
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "x" * LONGEST_NAME)
    scene.start_worker()
    alice.label(card.id, "Incident")
    assert "Lead: @alice" in scene.wait_for_comment(card.id, "Incident declared")
    assert checklist_names(scene.card(card.id)) == ["Until the problem is resolved"]
    assert "Phase: **investigating**" in header_of(scene, card.id)
    assert scene.stop_worker() == 0


def incident_card_for(scene: Stage, board_id: str, source_id: str) -> str:
    def find() -> str | None:
        state = scene.sandbox.state
        with state.lock:
            return next(
                (c.id for c in state.board_cards(board_id) if source_marker(source_id) in c.desc),
                None,
            )

    return wait_for(find, f"the incident card for {source_id}")


def test_on_an_incident_board_a_long_name_is_cut_to_trellos_limit(
    make_stage: StageFactory,
) -> None:
    scene = make_stage(boards=2)
    support, incidents = scene.board_ids
    scene.env["TRELLO_BOARD_ID"], scene.env["INCIDENT_BOARD_ID"] = support, incidents
    alice = scene.person("alice")
    source = alice.create_card(support, "y" * LONGEST_NAME, list_name="To Do")
    scene.start_worker()
    alice.label(source.id, "Incident")
    card_id = incident_card_for(scene, incidents, source.id)
    scene.wait_for_comment(card_id, "Incident declared")
    name = scene.card(card_id)["name"]
    assert name.startswith("Incident: yyy") and len(name) == LONGEST_NAME
    scene.wait_for_comment(source.id, "run on its own card")
    assert scene.stop_worker() == 0


def test_on_an_incident_board_the_source_name_is_quoted(make_stage: StageFactory) -> None:
    scene = make_stage(boards=2)
    support, incidents = scene.board_ids
    scene.env["TRELLO_BOARD_ID"], scene.env["INCIDENT_BOARD_ID"] = support, incidents
    alice = scene.person("alice")
    source = alice.create_card(support, HOSTILE_NAME, list_name="To Do")
    scene.start_worker()
    alice.label(source.id, "Incident")
    card_id = incident_card_for(scene, incidents, source.id)
    scene.wait_for_comment(card_id, "Incident declared")
    texts = [scene.card(card_id)["desc"], *scene.worker_comments(card_id)]
    texts += scene.worker_comments(source.id)
    assert [t for t in texts if live_markup(t)] == []


def test_unknown_people_in_role_commands_get_a_reply_and_change_nothing(
    make_stage: StageFactory,
) -> None:
    scene = make_stage()
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], "Who is who")
    scene.start_worker()
    alice.label(card.id, "Incident")
    scene.wait_for_comment(card.id, "Incident declared")
    alice.comment(card.id, "/communicator @bob @nobody\n/delvers @carol @ghost_1\n/quickfixers")
    reply = scene.wait_for_comment(card.id, "I don't know")
    assert quote("@nobody") in reply and quote("@ghost_1") in reply
    assert "needs at least one @user" in reply
    assert "Noted" not in reply
    header = header_of(scene, card.id)
    assert "Communicator: (nobody yet)" in header and "Deep delvers: (nobody yet)" in header
    assert scene.sandbox.members["bob"].id not in scene.card(card.id)["idMembers"]
    assert scene.stop_worker() == 0


def test_peoples_markup_is_quoted_in_every_worker_comment_and_the_header(
    make_stage: StageFactory,
) -> None:
    scene = make_stage()
    alice = scene.person("alice")
    card = alice.create_card(scene.board_ids[0], HOSTILE_NAME)
    scene.start_worker()
    alice.label(card.id, "Incident")
    scene.wait_for_comment(card.id, "Incident declared")
    alice.comment(card.id, "/lead @board")
    scene.wait_for_comment(card.id, "I don't know")
    alice.comment(card.id, "/workaround **<img src=x>** [link](javascript:alert(1)) @board")
    scene.wait_for_comment(card.id, "Workaround in place")
    alice.comment(card.id, "/allhands <script>alert(1)</script> [y](javascript:alert(2)) @card")
    allhands = scene.wait_for_comment(card.id, "All hands")
    alice.comment(card.id, "/resolved **fixed** <b>really</b> @board")
    scene.wait_for_comment(card.id, "**Resolved**")

    assert live_markup(header_of(scene, card.id)) == []
    # the all-hands call mentions @board on purpose, once, and nothing else is live in it
    assert allhands.count("@board") == 1
    texts = [t for t in scene.worker_comments(card.id) if t != allhands]
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
    scene.wait_for_cycles(1, since=0, timeout=300)  # 5,000 requests: slow on a busy machine

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
