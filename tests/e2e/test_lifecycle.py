"""The whole incident, with the real worker process, acted out by people through py-trello."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.e2e.conftest import IncidentFactory, StageFactory, checklist_names, markers
from tests.e2e.harness import Stage
from worker.core.header import FIRST_LINE
from worker.demo import wait_for

pytestmark = pytest.mark.e2e

COMMUNICATE = "Consider communicating: "
DEFAULT_TEMPLATE = Path(__file__).parents[2] / "config" / "incident-template.md"


def test_a_whole_incident(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident(
        "Checkout is down",
        description="Customers get a 500 on the payment page.",
        INCIDENT_MEETING_URL="https://meet.example.com/war-room",
    )
    alice, bob, carol = scene.person("alice"), scene.person("bob"), scene.person("carol")

    declared = scene.wait_for_comment(card, "Incident declared")
    assert "Lead: @alice" in declared and "https://meet.example.com/war-room" in declared
    assert "tell the support team, auction houses and buyers/sellers" in declared
    now = scene.card(card)
    assert checklist_names(now) == ["Until the problem is resolved"]
    assert now["desc"].startswith(FIRST_LINE)
    assert now["desc"].endswith("\n\nCustomers get a 500 on the payment page.")
    assert "Phase: **investigating**" in now["desc"]

    alice.comment(card, "/communicator @bob\n/delvers @carol @dave\n/quickfixers @bob")
    scene.wait_for_comment(card, "Noted")
    now = scene.card(card)
    assert "Communicator: @bob" in now["desc"] and "Deep delvers: @carol, @dave" in now["desc"]
    members = {
        m.id for name, m in scene.sandbox.members.items() if name in ("bob", "carol", "dave")
    }
    assert members <= set(now["idMembers"])

    carol.label(card, "Workaround")
    workaround = scene.wait_for_comment(card, "Workaround in place")
    assert "@bob: tell" in workaround and "When there is some workaround." in workaround
    bob.move(card, "Done")
    scene.wait_for_comment(card, "**Resolved**")
    wait_for(
        lambda: (
            checklist_names(scene.card(card))
            == ["Until the problem is resolved", "Post mortem", "Meeting agenda", "Follow-ups"]
        ),
        "the post mortem checklists",
    )
    now = scene.card(card)
    assert "Phase: **resolved**" in now["desc"] and "- Workaround: " in now["desc"]

    scene.wait_for_cycles(3)
    assert scene.stop_worker(signal.SIGTERM) == 0
    comments = scene.worker_comments(card)
    assert len(comments) == 5  # declared, noted, workaround, resolved, post mortem
    assert len(set(markers(comments))) == 5
    assert "stopping after the current step" in scene.worker_log()


def test_every_phase_signal_on_concurrent_incidents(make_stage: StageFactory) -> None:
    scene = make_stage()
    board = scene.board_ids[0]
    alice = scene.person("alice")
    signals = {
        "workaround label": (lambda c: alice.label(c, "Workaround"), "Workaround in place"),
        "workaround command": (
            lambda c: alice.comment(c, "/workaround flag off"),
            "Workaround in place",
        ),
        "resolved label": (lambda c: alice.label(c, "Resolved"), "**Resolved**"),
        "moved to Done": (lambda c: alice.move(c, "Done"), "**Resolved**"),
        "resolved command": (lambda c: alice.comment(c, "/resolved rolled back"), "**Resolved**"),
    }
    cards = {name: alice.create_card(board, f"Incident: {name}").id for name in signals}
    scene.start_worker()
    for card_id in cards.values():
        alice.label(card_id, "Incident")
    for card_id in cards.values():
        scene.wait_for_comment(card_id, "Incident declared")
    for name, (act, _) in signals.items():
        act(cards[name])
    for name, (_, announcement) in signals.items():
        scene.wait_for_comment(cards[name], announcement)
    scene.wait_for_cycles(3)
    for name, card_id in cards.items():
        comments = scene.worker_comments(card_id)
        resolving = signals[name][1] == "**Resolved**"
        assert len(comments) == (3 if resolving else 2), name  # resolving asks for a post mortem
        if name == "workaround command":
            assert "flag off" in comments[1]
    assert scene.stop_worker() == 0


def test_reminders_repeat_until_the_item_is_ticked(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident("Search is slow", INCIDENT_REMINDER_SECONDS="1")
    alice, bob = scene.person("alice"), scene.person("bob")
    alice.comment(card, "/communicator @bob")
    scene.wait_for_comment(card, "Reminder 2: @bob")
    bob.tick(card, COMMUNICATE + "When we first notice")
    scene.wait_for_cycles(2)
    reminders = [t for t in scene.worker_comments(card) if t.startswith("Reminder")]
    scene.wait_for_cycles(8)  # well past the next reminder's time
    later = [t for t in scene.worker_comments(card) if t.startswith("Reminder")]
    assert later == reminders
    assert all("When we first notice the problems." in t for t in reminders)

    alice.comment(card, "/workaround cache warmed")
    scene.wait_for_comment(card, "Reminder 1: @bob, *" + COMMUNICATE + "When there is some")
    assert scene.stop_worker() == 0


def test_removing_the_label_stands_the_incident_down(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident("False alarm", INCIDENT_REMINDER_SECONDS="1")
    scene.person("alice").label(card, "Incident", remove=True)
    scene.wait_for_comment(card, "stood down")
    assert_quiet(scene, card)
    assert "stood down" in scene.card(card)["desc"]


def test_archiving_the_card_stops_reminders(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident("Archived mid-incident", INCIDENT_REMINDER_SECONDS="1")
    scene.wait_for_comment(card, "Reminder 1")
    scene.person("alice").archive(card)
    scene.wait_for_cycles(2)
    assert_quiet(scene, card)


def assert_quiet(scene: Stage, card: str) -> None:
    """The worker says nothing more on `card` over 10 cycles (two reminder periods or more)."""
    count = len(scene.worker_comments(card))
    scene.wait_for_cycles(10)
    assert len(scene.worker_comments(card)) == count


def test_what_people_remove_stays_removed(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident("We run our own checklist", INCIDENT_REMINDER_SECONDS="1")
    scene.wait_for_comment(card, "Reminder 1")
    scene.person("alice").delete_checklist(card, "Until the problem is resolved")
    scene.wait_for_cycles(10)  # several reconcile passes
    assert checklist_names(scene.card(card)) == []
    reminders = [t for t in scene.worker_comments(card) if t.startswith("Reminder")]
    scene.wait_for_cycles(8)
    assert [t for t in scene.worker_comments(card) if t.startswith("Reminder")] == reminders


def test_roles_name_only_people_on_the_board(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident("Who?")
    scene.person("alice").comment(card, "/communicator @nobody")
    reply = scene.wait_for_comment(card, "I don't know @\u200bnobody")  # quoted: no mention
    assert "stay as they were" in reply
    assert "Communicator: (nobody yet)" in scene.card(card)["desc"]


def test_two_boards_run_independent_incidents(make_stage: StageFactory) -> None:
    scene = make_stage(boards=2)
    scene.start_worker()
    first = scene.declare("Board one is on fire")
    second = scene.declare("Board two is on fire", by="bob", board=scene.board_ids[1])
    assert "Lead: @alice" in scene.wait_for_comment(first, "Incident declared")
    assert "Lead: @bob" in scene.wait_for_comment(second, "Incident declared")
    scene.person("bob").label(second, "Resolved")
    scene.wait_for_comment(second, "**Resolved**")
    scene.wait_for_cycles(3)
    assert "investigating" in scene.card(first)["desc"]
    assert len(scene.worker_comments(first)) == 1


def test_a_label_found_at_start_is_declared_for_whoever_added_it(make_stage: StageFactory) -> None:
    scene = make_stage()
    carol = scene.person("carol")
    card = carol.create_card(scene.board_ids[0], "Happened while the worker was down")
    carol.label(card.id, "Incident")
    result = scene.run("run", "--once")
    assert result.returncode == 0, result.stderr
    texts = scene.worker_comments(card.id)
    assert len(texts) == 1 and "Lead: @carol" in texts[0]
    assert scene.run("run", "--once").returncode == 0
    assert len(scene.worker_comments(card.id)) == 1


def test_declare_command(make_stage: StageFactory) -> None:
    scene = make_stage()
    result = scene.run("declare", "Checkout is down", "--list", "Doing")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Declared: https://trello.com/c/")
    short_link = result.stdout.split("/c/")[1].split()[0]
    assert scene.run("run", "--once").returncode == 0
    declared = scene.wait_for_comment(short_link, "Incident declared")
    assert declared.startswith(
        "**Incident declared.** Nobody leads it yet: name the lead with `/lead @user`."
    )
    assert "(nobody yet)" not in declared

    wrong = scene.run("declare", "x", "--list", "Nope")
    assert wrong.returncode == 2
    assert "has no open list 'Nope'" in wrong.stderr and "Traceback" not in wrong.stderr

    stranger = scene.run("declare", "x", "--lead", "@zed")
    assert stranger.returncode == 2 and "Traceback" not in stranger.stderr
    assert "declare --lead: '@zed' is not a member of board" in stranger.stderr

    named = scene.run("declare", "Search is slow", "--lead", "@Alice", "--communicator", "bob")
    assert named.returncode == 0, named.stderr
    assert named.stdout.rstrip().endswith("(Search is slow), lead @alice, communicator @bob")
    short_link = named.stdout.split("/c/")[1].split()[0]
    assert scene.run("run", "--once").returncode == 0
    declared = scene.wait_for_comment(short_link, "Incident declared")
    assert declared.startswith(
        "**Incident declared** with `incident-worker declare`. Lead: @alice, communicator: @bob."
    )
    card = scene.card(short_link)
    assert "Lead: @alice · Communicator: @bob" in card["desc"]

    unknown = scene.run("declare", "x", "--sev", "worst")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert "declare --sev: 'worst' is not a severity level (1 (critical): Buyers" in unknown.stderr
    severe = scene.run("declare", "Nobody can pay", "--sev", "critical")
    assert severe.returncode == 0, severe.stderr
    assert severe.stdout.rstrip().endswith("(Nobody can pay), severity 1")
    severe_link = severe.stdout.split("/c/")[1].split()[0]
    assert scene.run("run", "--once").returncode == 0
    scene.wait_for_comment(severe_link, "**Severity 1 (critical)**: Buyers or sellers")
    assert "- Severity: **1 (critical)**" in scene.card(severe_link)["desc"]
    members = {m.id for m in scene.sandbox.members.values() if m.username in ("alice", "bob")}
    assert set(card["idMembers"]) == members


def test_an_edited_template_is_taken_up_and_a_broken_edit_is_refused(
    make_stage: StageFactory, tmp_path: Path
) -> None:
    template = tmp_path / "process.md"
    template.write_text(DEFAULT_TEMPLATE.read_text())
    scene = make_stage(INCIDENT_TEMPLATE=str(template))
    scene.start_worker()
    first = scene.declare("Before the edit")

    template.write_text("# Nothing to tick\n\nJust prose.\n")
    wait_for(lambda: "no checklist" in scene.worker_log(), "the broken template reported")
    assert "Still using template v" in scene.worker_log()

    edited = DEFAULT_TEMPLATE.read_text().replace(
        "### Until the problem is resolved", "### While it burns"
    )
    template.write_text(edited)
    wait_for(lambda: "template changed" in scene.worker_log(), "the edit taken up")
    second = scene.declare("After the edit")
    assert checklist_names(scene.card(second)) == ["While it burns"]
    assert checklist_names(scene.card(first)) == ["Until the problem is resolved"]
    assert scene.stop_worker() == 0


@pytest.fixture
def waiting_for_trello(make_stage: StageFactory) -> Stage:
    """The worker started while Trello answers every request with a 503: it cannot start yet."""
    scene = make_stage(INCIDENT_RETRY_ATTEMPTS="2")
    scene.sandbox.faults.configure(error_rate=1.0, statuses=(503,))
    scene.start_worker(wait=False)
    wait_for(lambda: "cannot start yet" in scene.worker_log(), "the outage reported", 60)
    return scene


def test_the_worker_waits_for_trello_at_start_instead_of_dying(waiting_for_trello: Stage) -> None:
    scene = waiting_for_trello
    scene.sandbox.faults.reset()
    wait_for(lambda: "Trello answers again" in scene.worker_log(), "the start", 60)
    scene.wait_for_cycles(1, timeout=60)
    assert scene.worker_log().count("cannot start yet") == 1
    assert scene.stop_worker() == 0


def test_sigterm_while_waiting_for_trello_exits_cleanly(waiting_for_trello: Stage) -> None:
    scene = waiting_for_trello
    assert scene.stop_worker() == 0
    assert "stopped" in scene.worker_log()


def test_severity_set_by_a_label_and_raised_mid_incident(
    declared_incident: IncidentFactory,
) -> None:
    scene, card = declared_incident("Search is slow")
    alice, bob = scene.person("alice"), scene.person("bob")
    alice.client.get_board(scene.board_ids[0]).add_label("major", "yellow")
    bob.label(card, "major")
    set_by_label = scene.wait_for_comment(card, "**Severity 2 (major)**")
    assert set_by_label.startswith("**Severity 2 (major)**, set by @bob: A part of the service")
    wait_for(lambda: "- Severity: **2 (major)**" in scene.card(card)["desc"], "the header", 20)
    bob.comment(card, "/sev 1")
    raised = scene.wait_for_comment(card, "**Severity 1 (critical)**")
    assert "(was 2 (major))" in raised and "all hands called" in raised
    called = scene.wait_for_comment(card, "**All hands**, for severity 1 (critical): @board")
    assert "Join the call" not in called or "http" in called
    wait_for(lambda: "- Severity: **1 (critical)**" in scene.card(card)["desc"], "the header", 20)
    bob.comment(card, "/sev 9")
    assert "takes one of the levels" in scene.wait_for_comment(card, "`/sev` takes")
    scene.wait_for_cycles(2)
    texts = scene.worker_comments(card)
    assert sum(t.startswith("**All hands**") for t in texts) == 1
    assert scene.stop_worker() == 0


def test_tell_ticks_the_audiences_item_for_the_teller(declared_incident: IncidentFactory) -> None:
    scene, card = declared_incident("Checkout is down")
    alice, bob = scene.person("alice"), scene.person("bob")
    alice.comment(card, "/communicator @bob")
    scene.wait_for_comment(card, "Noted")
    bob.comment(card, "/tell support We are on it; next update within the hour.")
    receipt = scene.wait_for_comment(card, "**Told** support")
    assert receipt.startswith("**Told** support (noticed), by @bob:")
    assert "> **support**: We are on it; next update within the hour." in receipt

    def ticked() -> set[str]:
        found = scene.card(card)["checklists"]
        return {
            i["name"].removeprefix("↳ ")
            for c in found
            for i in c["checkItems"]
            if i["state"] == "complete"
        }

    wait_for(lambda: any(n.startswith("The support team.") for n in ticked()), "the tick", 20)
    assert not any("When we first notice" in n for n in ticked())  # two audiences to go
    bob.comment(card, "/tell all")
    wait_for(lambda: any("When we first notice" in n for n in ticked()), "the moment's tick", 20)
    assert scene.stop_worker() == 0
