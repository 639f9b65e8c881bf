"""The incident process, from tables: the time is data, nothing sleeps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import MEMBERS, TEMPLATE, a_policy, an_event
from worker.core import observe, reminders, rules
from worker.core import trello_json as ev
from worker.core.model import (
    AddChecklists,
    AddMembers,
    CardView,
    Comment,
    CommItem,
    Ended,
    Incident,
    Phase,
    Policy,
    RefreshHeader,
)
from worker.template import Moment, Stage

WORKER = "w0"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = a_policy(
    TEMPLATE,
    WORKER,
    reminder_seconds=900,
    status_update_seconds=1800,
    role_reminder_seconds=300,
    meeting_url="https://meet.example/incident",
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def event(kind: type[ev.Event], seconds: float = 60, who: str = "bob", **extra: object) -> ev.Event:
    return an_event(kind, at(seconds), who, action_id=f"a{seconds}", **extra)


def comm(moment: Moment, *, ticked: bool = False, gone: bool = False) -> CommItem:
    return CommItem(
        checklist_id="cl1",
        item_id=f"item-{moment.value}",
        name=TEMPLATE.communication(moment)[1].name,
        ticked=ticked,
        gone=gone,
    )


def incident(**update: object) -> Incident:
    base, _ = rules.declare("c1", "Checkout is down", "b1", by="alice", at=T0, policy=POLICY)
    base = base.model_copy(update={"comm_items": {m: comm(m) for m in Moment}})
    return base.model_copy(update=update)


def comment_keys(effects: list[object]) -> list[str]:
    return [a.key for a in effects if isinstance(a, Comment)]


# -- declaring ------------------------------------------------------------------------------


def test_the_workers_own_label_declares_asking_for_a_lead_by_its_command() -> None:
    new, effects = rules.on_event(
        None, event(ev.LabelAdded, 0, "incident-worker", label="Incident"), POLICY, MEMBERS
    )
    assert new is not None and new.lead is None and new.declared_by == ""
    (first,) = [a for a in effects if isinstance(a, Comment)]
    assert first.text.startswith(
        "**Incident declared.** Nobody leads it yet: name the lead with `/lead @user`."
    )
    assert "Whoever communicates (name them with `/communicator @user`): tell" in first.text
    assert "(nobody yet)" not in first.text


def test_the_incident_label_declares_with_whoever_added_it_as_lead() -> None:
    new, effects = rules.on_event(
        None, event(ev.LabelAdded, 0, "alice", label="incident"), POLICY, MEMBERS
    )
    assert new is not None
    assert (new.lead, new.declared_by, new.phase) == ("alice", "alice", Phase.INVESTIGATING)
    assert new.phase_started == {Phase.INVESTIGATING: T0}
    assert new.template_version == TEMPLATE.version
    assert effects[:2] == [AddChecklists("c1", Stage.DECLARED), RefreshHeader("c1")]
    (first,) = [a for a in effects if isinstance(a, Comment)]
    assert first.key == "declared"
    assert "Lead: @alice" in first.text
    assert "https://meet.example/incident" in first.text
    assert "@alice: tell the support team, auction houses and buyers/sellers" in first.text
    assert "When we first notice the problems." in first.text


def test_the_workers_own_label_declares_without_a_lead() -> None:
    new, _ = rules.on_event(
        None, event(ev.LabelAdded, 0, "incident-worker", label="Incident"), POLICY, MEMBERS
    )
    assert new is not None and new.lead is None and new.declared_by == ""


@pytest.mark.parametrize(
    "happening",
    [
        event(ev.LabelAdded, label="Bug"),
        event(ev.Commented, text="looks bad"),
        event(ev.CardMoved, list_before="To Do", list_after="Done"),
    ],
)
def test_other_events_on_a_plain_card_do_nothing(happening: ev.Event) -> None:
    assert rules.on_event(None, happening, POLICY, MEMBERS) is None


def test_the_workers_own_actions_are_never_peoples() -> None:
    current = incident()
    for happening in (
        event(ev.Commented, who="incident-worker", text="/resolved done"),
        event(ev.LabelAdded, who="incident-worker", label="Resolved"),
        event(ev.LabelRemoved, who="incident-worker", label="Incident"),
    ):
        assert rules.on_event(current, happening, POLICY, MEMBERS) == (current, [])


# -- phases -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("happening", "phase", "note"),
    [
        (event(ev.LabelAdded, 120, label="Workaround"), Phase.WORKAROUND, ""),
        (event(ev.LabelAdded, 120, label="resolved"), Phase.RESOLVED, ""),
        (event(ev.CardMoved, 120, list_before="Doing", list_after="Done"), Phase.RESOLVED, "Done"),
        (
            event(ev.CardMoved, 120, list_before="Doing", list_after=" resolved "),
            Phase.RESOLVED,
            "",
        ),
        (event(ev.Commented, 120, text="/workaround feature flag off"), Phase.WORKAROUND, "flag"),
        (event(ev.Commented, 120, text="ok\n/resolved rolled back"), Phase.RESOLVED, "rolled"),
    ],
)
def test_phase_signals(happening: ev.Event, phase: Phase, note: str) -> None:
    new, effects = rules.on_event(incident(), happening, POLICY, MEMBERS)
    assert new is not None and new.phase is phase
    assert new.phase_started[phase] == at(120)
    announce = [a for a in effects if isinstance(a, Comment) and a.key == f"phase-{phase.value}"]
    assert len(announce) == 1
    assert note in announce[0].text
    moment = {Phase.WORKAROUND: Moment.WORKAROUND, Phase.RESOLVED: Moment.RESOLUTION}[phase]
    assert TEMPLATE.communication(moment)[1].text in announce[0].text
    assert RefreshHeader("c1") in effects
    assert (AddChecklists("c1", Stage.RESOLVED) in effects) is (phase is Phase.RESOLVED)


@pytest.mark.parametrize(
    "happening",
    [
        event(ev.LabelAdded, label="Bug"),
        event(ev.CardMoved, list_before="To Do", list_after="Doing"),
        event(ev.Commented, text="I think /workaround is near"),
    ],
)
def test_non_signals_change_no_phase(happening: ev.Event) -> None:
    new, effects = rules.on_event(incident(), happening, POLICY, MEMBERS)
    assert new is not None and new.phase is Phase.INVESTIGATING
    assert [a for a in effects if isinstance(a, Comment)] == []


def test_phases_never_go_back_or_repeat() -> None:
    resolved, _ = rules.on_event(
        incident(), event(ev.LabelAdded, 100, label="Resolved"), POLICY, MEMBERS
    )
    assert resolved is not None
    for happening, said in (
        (event(ev.LabelAdded, 200, label="Workaround"), []),
        (event(ev.Commented, 300, text="/resolved again"), ["reply-a300"]),  # says why not
    ):
        again, effects = rules.on_event(resolved, happening, POLICY, MEMBERS)
        assert again is not None and again.phase is Phase.RESOLVED
        assert again.phase_started == resolved.phase_started
        assert comment_keys(effects) == said


def test_removing_the_label_stands_down_and_says_so() -> None:
    new, effects = rules.on_event(
        incident(), event(ev.LabelRemoved, 500, label="Incident"), POLICY, MEMBERS
    )
    assert new is not None and new.ended is Ended.STOOD_DOWN and new.ended_at == at(500)
    assert comment_keys(effects) == ["stood-down"]


@pytest.mark.parametrize(
    ("happening", "why"),
    [
        (event(ev.CardArchived, archived=True), Ended.ARCHIVED),
        (event(ev.CardDeleted), Ended.DELETED),
    ],
)
def test_archive_or_delete_ends_quietly(happening: ev.Event, why: Ended) -> None:
    new, effects = rules.on_event(incident(), happening, POLICY, MEMBERS)
    assert new is not None and new.ended is why and effects == []
    assert reminders.due(new, at(100_000), POLICY)[1] == []


@pytest.mark.parametrize(
    ("given", "lead", "communicator", "first_line", "added"),
    [
        ({}, None, None, "**Incident declared.** Nobody leads it yet: name the lead with", None),
        (
            {"lead": "alice", "communicator": "bob"},
            "alice",
            "bob",
            "**Incident declared** with `incident-worker declare`. Lead: @alice, "
            "communicator: @bob.",
            ("m1", "m2"),
        ),
        (
            {"lead": "bob", "communicator": "bob"},
            "bob",
            "bob",
            "**Incident declared** with `incident-worker declare`. Lead: @bob, communicator: @bob.",
            ("m2",),
        ),
        (  # somebody not on the board takes no role
            {"lead": "zed", "communicator": "carol"},
            None,
            "carol",
            "**Incident declared.** Nobody leads it yet: name the lead with",
            ("m3",),
        ),
    ],
)
def test_roles_given_at_declaration(
    given: dict[str, str],
    lead: str | None,
    communicator: str | None,
    first_line: str,
    added: tuple[str, ...] | None,
) -> None:
    declared, effects = rules.declare(
        "c1", "Checkout", "b1", by="", at=T0, policy=POLICY, given=given, members=MEMBERS
    )
    assert (declared.lead, declared.communicator) == (lead, communicator)
    (comment,) = [e for e in effects if isinstance(e, Comment)]
    assert comment.text.startswith(first_line)
    members = [e.member_ids for e in effects if isinstance(e, AddMembers)]
    assert members == ([added] if added else [])


# -- roles and comments -------------------------------------------------------------------------


def test_role_commands_set_roles_add_members_and_acknowledge_once() -> None:
    text = "/lead @bob\n/communicator @carol\n/delvers @alice @bob\n/quickfixers @carol"
    said = event(ev.Commented, 42, "alice", text=text)  # the lead
    new, effects = rules.on_event(incident(), said, POLICY, MEMBERS)
    assert new is not None
    assert (new.lead, new.communicator) == ("bob", "carol")
    assert (new.delvers, new.quickfixers) == (("alice", "bob"), ("carol",))
    assert new.last_human_comment_at == at(42)
    assert AddMembers("c1", ("m2", "m3", "m1")) in effects
    assert comment_keys(effects) == ["reply-a42"]


def test_an_unknown_user_gets_a_reply_and_nothing_changes() -> None:
    new, effects = rules.on_event(
        incident(), event(ev.Commented, 42, "alice", text="/communicator @zed"), POLICY, MEMBERS
    )
    assert new is not None and new.communicator is None
    (reply,) = [a for a in effects if isinstance(a, Comment)]
    assert "I don't know @\u200bzed" in reply.text  # quoted: no live mention
    assert not any(isinstance(a, AddMembers) for a in effects)


def test_ticking_the_communication_item_is_noted() -> None:
    happening = event(
        ev.CheckItemChanged,
        checklist_id="cl1",
        item_id="item-detection",
        item_name="x",
        complete=True,
    )
    new, _ = rules.on_event(incident(), happening, POLICY, MEMBERS)
    assert new is not None and new.comm_items[Moment.DETECTION].ticked


# -- reconcile ---------------------------------------------------------------------------------


def view(
    *labels: str, list_name: str = "Doing", checklists: tuple[str, ...] = ("cl1",)
) -> CardView:
    return CardView(
        "c1", frozenset(label.casefold() for label in labels), list_name, frozenset(checklists)
    )


DECLARED = {"checklists": {"Until the problem is resolved": "cl1"}}


def test_reconcile_with_nothing_missed_only_checks_the_header() -> None:
    current = incident(**DECLARED)
    assert rules.reconcile(current, view("Incident"), at(10), POLICY) == (
        current,
        [RefreshHeader("c1")],
    )


def test_reconcile_stands_down_when_the_label_is_gone() -> None:
    new, effects = rules.reconcile(incident(**DECLARED), view("Bug"), at(10), POLICY)
    assert new.ended is Ended.STOOD_DOWN and "stood-down" in comment_keys(effects)


def test_reconcile_follows_signals_it_missed() -> None:
    new, effects = rules.reconcile(
        incident(**DECLARED), view("Incident", "Workaround", list_name="Done"), at(10), POLICY
    )
    assert new.phase is Phase.RESOLVED and new.reached(Phase.WORKAROUND)
    assert comment_keys(effects) == ["phase-workaround", "phase-resolved", "postmortem"]


def test_reconcile_adds_what_a_crash_left_out_but_never_what_people_removed() -> None:
    fresh = incident()  # declared, checklists never recorded
    _, effects = rules.reconcile(fresh, view("Incident", checklists=()), at(10), POLICY)
    assert effects[0] == AddChecklists("c1", Stage.DECLARED)

    removed, effects = rules.reconcile(
        incident(**DECLARED), view("Incident", checklists=()), at(10), POLICY
    )
    assert removed.removed_checklists == ("Until the problem is resolved",)
    assert not any(isinstance(a, AddChecklists) for a in effects)
    assert all(item.gone for item in removed.comm_items.values())
    _, later = reminders.due(removed, at(100_000), POLICY)
    assert not any(c.key.startswith("remind-") for c in later)


def test_a_removed_communication_item_is_gone_for_good() -> None:
    current = incident()
    seen = observe.observe_comm_items(current, {Moment.DETECTION: None})
    assert seen.comm_items[Moment.DETECTION].gone
    assert observe.observe_comm_items(seen, {Moment.DETECTION: None}) == seen


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("alice", True), ("carol", True), ("bob", False)],  # lead, communicator, someone else
)
def test_all_hands_only_by_the_lead_or_the_communicator(who: str, allowed: bool) -> None:
    current = incident(communicator="carol")
    _, effects = rules.on_event(
        current, event(ev.Commented, 77, who, text="/allhands DB is gone"), POLICY, MEMBERS
    )
    (said,) = [a for a in effects if isinstance(a, Comment)]
    assert said.key == "allhands-a77"
    assert ("@board" in said.text) is allowed
    if allowed:
        assert "DB is gone" in said.text and "https://meet.example/incident" in said.text
    else:
        assert said.text.startswith("@bob: only @alice or @carol can call all hands")


def reply_to(
    text: str, current: Incident | None = None, who: str = "bob", policy: Policy = POLICY
) -> tuple[Incident, str]:
    """The incident after a comment of `text` by `who`, and the worker's reply ("" for none)."""
    found = rules.on_event(
        current or incident(), event(ev.Commented, 42, who, text=text), policy, MEMBERS
    )
    assert found is not None
    after, effects = found
    replies = [e.text for e in effects if isinstance(e, Comment) and e.key == "reply-a42"]
    return after, "\n".join(replies)


RESOLVED_AT = {Phase.INVESTIGATING: T0, Phase.RESOLVED: at(30)}


@pytest.mark.parametrize(
    ("text", "changes", "reply"),
    [
        (
            "/resolve fixed",
            {},
            "`/resolve` is not a command I know: did you mean `/resolved`? `/help` lists them.",
        ),
        (
            "/delver @carol",
            {},
            "`/delver` is not a command I know: did you mean `/delvers`? `/help` lists them.",
        ),
        ("/frobnicate", {}, "`/frobnicate` is not a command I know; `/help` lists them."),
        ("/var/log/app.log has the trace", {}, ""),  # a path, not a command
        ("see /tmp/x and\n/usr/bin/env", {}, ""),
        (
            "/workaround restarted",
            {"phase": Phase.RESOLVED, "phase_started": RESOLVED_AT},
            "`/workaround` changes nothing now: the incident is resolved. `/reopen` it first "
            "if the problem is back.",
        ),
        (
            "/workaround again",
            {
                "phase": Phase.WORKAROUND,
                "phase_started": {Phase.INVESTIGATING: T0, Phase.WORKAROUND: at(9)},
            },
            "`/workaround` changes nothing now: there is a workaround already.",
        ),
        (
            "/reopen",
            {},
            "`/reopen` changes nothing now: the incident is not resolved (it is *investigating*).",
        ),
        (  # bob is the communicator: he may hand the lead over
            "/lead @carol",
            {"lead": "alice", "communicator": "bob"},
            "Noted (lead: @carol). The lead hands over from @alice to @carol.",
        ),
        ("/lead @alice", {"lead": "alice", "communicator": "bob"}, "Noted (lead: @alice)."),
    ],
)
def test_commands_that_cannot_apply_or_are_unknown_get_a_reply_saying_why(
    text: str, changes: dict[str, object], reply: str
) -> None:
    current = incident().model_copy(update=changes)
    after, said = reply_to(text, current)
    assert said == reply
    if not text.startswith("/lead"):
        assert (after.phase, after.lead) == (current.phase, current.lead)


LEADER = {"lead": "alice", "communicator": "carol"}
NOT_YOURS = "so they stay as they were."


@pytest.mark.parametrize(
    ("who", "text", "roles", "anyone", "reply"),
    [
        # the lead names the roles
        ("alice", "/communicator @bob", LEADER, False, "Noted (communicator: @bob)."),
        ("alice", "/lead @bob", LEADER, False, "Noted (lead: @bob). The lead hands over"),
        # the communicator may hand the lead over, nothing else
        ("carol", "/lead @bob", LEADER, False, "Noted (lead: @bob). The lead hands over"),
        ("carol", "/delvers @bob", LEADER, False, "@carol: only the lead (@alice) can name"),
        # anyone else: a reply saying who can, and nothing changes
        ("bob", "/lead @bob", LEADER, False, "@bob: only the lead (@alice) or the communicator"),
        ("bob", "/communicator @bob", LEADER, False, "@bob: only the lead (@alice) can name"),
        # anyone while there is no lead, or when the template says so
        ("bob", "/lead @bob", {"lead": None}, False, "Noted (lead: @bob)."),
        ("bob", "/quickfixers @bob", {"lead": None}, False, "Noted (quickfixers: @bob)."),
        ("bob", "/communicator @bob", LEADER, True, "Noted (communicator: @bob)."),
    ],
)
def test_who_may_name_the_roles(
    who: str, text: str, roles: dict[str, object], anyone: bool, reply: str
) -> None:
    current = incident(**roles)
    policy = replace(POLICY, roles_by_anyone=anyone)
    after, said = reply_to(text, current, who, policy)
    assert said.startswith(reply)
    if said.endswith(NOT_YOURS) or "can hand the lead over" in said:
        assert (after.lead, after.communicator) == (current.lead, current.communicator)
        assert (after.delvers, after.quickfixers) == (current.delvers, current.quickfixers)


def test_help_lists_the_commands_who_may_use_them_and_the_roles_now() -> None:
    current = incident().model_copy(update={"lead": "alice", "communicator": "carol"})
    _, said = reply_to("/help", current)
    assert said.startswith("**Commands** (one per line of a comment):")
    for usage in ("/lead @user", "/resolved <text>", "/reopen <why>", "/help"):
        assert f"`{usage}`" in said
    assert "calls everyone on the board (the lead or the communicator)" in said
    assert "Now: lead @alice, communicator @carol" in said


def test_reopen_takes_a_resolved_incident_back_and_says_why() -> None:
    resolved, _ = rules.on_event(
        incident(), event(ev.LabelAdded, 30, label="Resolved"), POLICY, MEMBERS
    )
    after, _ = reply_to("/reopen it is back", resolved)
    assert after.phase is Phase.INVESTIGATING and after.postmortem_due is None
    found = rules.on_event(
        resolved, event(ev.Commented, 42, text="/reopen it is back"), POLICY, MEMBERS
    )
    assert found is not None
    (comment,) = [e for e in found[1] if isinstance(e, Comment)]
    assert comment.key == "reopened"
    assert comment.text == "**Re-opened** by @bob (`/reopen`: it is back): back to *investigating*."
