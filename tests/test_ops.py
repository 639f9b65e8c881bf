"""The decisions of `check`, `setup` and `status`, from tables: what was read in, rows out."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import ROOT, TEMPLATE, a_policy
from worker import ops
from worker.core import reminders
from worker.core.keys import comment_key
from worker.core.model import CommItem, Incident, Phase
from worker.errors import AuthError, NotFoundError, RequestRejected, TrelloUnavailable
from worker.ops import (
    BoardSeen,
    DatabaseSeen,
    Failed,
    Failure,
    MemberSeen,
    Row,
    Seen,
    Status,
    TemplateSeen,
    Wanted,
)
from worker.store import schema
from worker.template import Moment

WANTED = Wanted(
    labels=(
        ("INCIDENT_LABEL", "Incident"),
        ("INCIDENT_WORKAROUND_LABEL", "Workaround"),
        ("INCIDENT_RESOLVED_LABEL", "Resolved"),
    ),
    resolved_lists=("Done", "Resolved"),
)
API = "https://api.trello.com/1"
SCHEMA = ops.expected_schema()
HEALTHY_BOARD = BoardSeen(
    "b1", "Ops", ("Incident", "Workaround", "Resolved", "Bug"), ("To Do", "Doing", "Done")
)
GOOD_TEMPLATE = TemplateSeen("incident-template.md", "0123456789ab", 3)
HEAD = schema.head()
GOOD_DATABASE = DatabaseSeen("sqlite:///w.sqlite3", tables=SCHEMA, revision=HEAD, head=HEAD)


def seen(**changes: object) -> Seen:
    values: dict[str, object] = {
        "api_url": API,
        "member": MemberSeen("incident-worker"),
        "board_ids": ("b1",),
        "boards": (HEALTHY_BOARD,),
        "template": GOOD_TEMPLATE,
        "database": GOOD_DATABASE,
    }
    values.update(changes)
    return Seen(**values)  # type: ignore[arg-type]


def fixes(rows: list[Row]) -> list[str]:
    return [fix for row in rows for fix in row.fixes]


# -- check ----------------------------------------------------------------------------------


def test_a_healthy_set_up_has_only_ok_rows() -> None:
    rows = ops.check_rows(seen(), WANTED, SCHEMA)
    assert [(row.what, row.status) for row in rows] == [
        ("credentials", Status.OK),
        ("board b1", Status.OK),
        ("labels on 'Ops'", Status.OK),
        ("lists on 'Ops'", Status.OK),
        ("template", Status.OK),
        ("database", Status.OK),
    ]
    assert rows[0].detail == "@incident-worker"
    assert rows[3].detail == "3 open; moving a card to 'Done' resolves it"
    assert rows[4].detail == "v0123456789ab, 3 checklists (incident-template.md)"
    assert ops.exit_code(rows) == 0
    assert ops.render_check(rows).endswith("All is well.")


def test_follow_up_boards_are_checked_for_their_list() -> None:
    wanted = replace(WANTED, followup_boards=("b1", "b9"))
    followups_only = BoardSeen(
        "b9", "Actions", (), ("Backlog",), setting="INCIDENT_FOLLOWUP_BOARD_ID"
    )
    with_list = replace(HEALTHY_BOARD, lists=(*HEALTHY_BOARD.lists, "Follow-ups"))
    rows = ops.check_rows(
        seen(board_ids=("b1", "b9"), boards=(with_list, followups_only)), wanted, SCHEMA
    )
    assert [(row.what, row.status, row.detail) for row in rows[1:6]] == [
        ("board b1", Status.OK, "'Ops'"),
        ("labels on 'Ops'", Status.OK, "Incident, Workaround, Resolved"),
        ("lists on 'Ops'", Status.OK, "4 open; moving a card to 'Done' resolves it"),
        ("follow-ups on 'Ops'", Status.OK, "follow-up cards go in 'Follow-ups'"),
        ("board b9", Status.OK, "'Actions'"),  # no labels wanted there: no incidents run on it
    ]
    assert (rows[6].what, rows[6].status, rows[6].detail) == (
        "follow-ups on 'Actions'",
        Status.OK,  # the worker makes it when it needs it
        "no list 'Follow-ups' yet: `setup` makes it, else the worker at the first follow-up",
    )
    assert ops.exit_code(rows) == 0


@pytest.mark.parametrize(
    ("kind", "sentence", "why"),
    [
        (
            Failure.REFUSED,
            "Trello refused the API key or token: check TRELLO_API_KEY and TRELLO_TOKEN "
            "(the token must be the worker member's, and not revoked).",
            "the credentials did not work",
        ),
        (
            Failure.UNREACHABLE,
            f"Trello did not answer at {API}: check TRELLO_API_URL and the network, "
            "then run `incident-worker check` again.",
            "Trello did not answer",
        ),
        (
            Failure.REJECTED,
            "Trello would not say whose token this is (boom): "
            "check TRELLO_API_KEY, TRELLO_TOKEN and TRELLO_API_URL.",
            "Trello would not say whose token this is",
        ),
    ],
)
def test_failing_credentials_leave_the_boards_not_checked(
    kind: Failure, sentence: str, why: str
) -> None:
    member = MemberSeen(failed=Failed(kind, "boom"))
    rows = ops.check_rows(seen(member=member, boards=(), board_ids=("b1", "b2")), WANTED, SCHEMA)
    assert [(row.what, row.status) for row in rows] == [
        ("credentials", Status.PROBLEM),
        ("board b1", Status.SKIPPED),
        ("board b2", Status.SKIPPED),
        ("template", Status.OK),
        ("database", Status.OK),
    ]
    assert fixes(rows) == [sentence]
    assert {row.detail for row in rows if row.status is Status.SKIPPED} == {why}
    assert ops.exit_code(rows) == 1


@pytest.mark.parametrize(
    ("board", "status", "sentences"),
    [
        (
            BoardSeen("nosuch", failed=Failed(Failure.NOT_FOUND, "404")),
            Status.PROBLEM,
            [
                "Board 'nosuch' (in TRELLO_BOARD_ID) does not exist or the token's member "
                "cannot see it: correct TRELLO_BOARD_ID, or add the worker's member to the board."
            ],
        ),
        (
            BoardSeen("ib", failed=Failed(Failure.NOT_FOUND, "404"), setting="INCIDENT_BOARD_ID"),
            Status.PROBLEM,
            [
                "Board 'ib' (in INCIDENT_BOARD_ID) does not exist or the token's member "
                "cannot see it: correct INCIDENT_BOARD_ID, or add the worker's member to the "
                "board."
            ],
        ),
        (
            BoardSeen("b1", failed=Failed(Failure.UNREACHABLE, "503")),
            Status.PROBLEM,
            [
                f"Trello did not answer while board 'b1' was read ({API}): "
                "run `incident-worker check` again when it does."
            ],
        ),
        (
            BoardSeen("b1", "Ops", ("Workaround", "resolved"), ("Doing", "Done")),
            Status.PROBLEM,
            [
                "Board 'Ops' has no label 'Incident' (INCIDENT_LABEL): run `incident-worker "
                "setup`, or create it in Trello."
            ],
        ),
        (
            BoardSeen("b1", "Ops", (), ("Doing", "Done")),
            Status.PROBLEM,
            [
                f"Board 'Ops' has no label {name!r} ({setting}): run `incident-worker setup`, "
                "or create it in Trello."
                for setting, name in WANTED.labels
            ],
        ),
        (
            BoardSeen("b1", "Ops", ("Incident", "Workaround", "Resolved"), ()),
            Status.PROBLEM,
            [
                "Board 'Ops' has no open list: add one in Trello (declared incidents and the "
                "template card go in the first one)."
            ],
        ),
        (
            BoardSeen("b1", "Ops", ("Incident", "Workaround", "Resolved"), ("To Do", "Doing")),
            Status.WARNING,
            [
                "Board 'Ops' has none of the lists in INCIDENT_RESOLVED_LISTS ('Done', "
                "'Resolved'), so moving a card cannot resolve an incident: add one of them in "
                "Trello, or set INCIDENT_RESOLVED_LISTS to lists the board has."
            ],
        ),
        (  # names match as the worker matches them: any case
            BoardSeen("b1", "Ops", ("INCIDENT", "workaround", "Resolved"), ("resolved",)),
            Status.OK,
            [],
        ),
    ],
)
def test_board_problems_and_their_sentences(
    board: BoardSeen, status: Status, sentences: list[str]
) -> None:
    rows = ops.board_rows(board, WANTED, API)
    worst = max((row.status for row in rows), key=[Status.OK, Status.WARNING, Status.PROBLEM].index)
    assert worst is status
    assert fixes(rows) == sentences
    assert ops.exit_code(rows) == (1 if status is Status.PROBLEM else 0)


def test_a_warning_is_listed_but_does_not_fail_the_check() -> None:
    board = BoardSeen("b1", "Ops", ("Incident", "Workaround", "Resolved"), ("Doing",))
    rows = ops.check_rows(seen(boards=(board,)), WANTED, SCHEMA)
    text = ops.render_check(rows)
    assert ops.exit_code(rows) == 0
    assert "Worth a look:\n- Board 'Ops' has none of the lists" in text
    assert text.endswith("All is well.")


def test_no_resolved_lists_wanted_is_not_a_warning() -> None:
    wanted = Wanted(WANTED.labels, ())
    row = ops.lists_row(BoardSeen("b1", "Ops", (), ("Doing",)), wanted)
    assert (row.status, row.detail) == (Status.OK, "1 open; INCIDENT_RESOLVED_LISTS is empty")


def test_a_broken_template_is_a_problem_naming_file_and_line() -> None:
    error = "/etc/iw/process.md, line 1: the template has no checklist."
    rows = ops.check_rows(
        seen(template=TemplateSeen("/etc/iw/process.md", error=error)), WANTED, SCHEMA
    )
    assert fixes(rows) == [f"{error} Fix the file, or set INCIDENT_TEMPLATE to another one."]
    assert ops.exit_code(rows) == 1


@pytest.mark.parametrize(
    ("database", "sentences"),
    [
        (GOOD_DATABASE, []),
        (
            DatabaseSeen(
                "postgresql://u:***@db/iw", error="INCIDENT_DATABASE_URL cannot be opened (X)."
            ),
            [
                "INCIDENT_DATABASE_URL cannot be opened (X). Check INCIDENT_DATABASE_URL "
                "(and that its driver is installed)."
            ],
        ),
        (
            replace(GOOD_DATABASE, tables={k: v for k, v in SCHEMA.items() if k != "cursors"}),
            ["The database has no table 'cursors': run `incident-worker migrate` to create it."],
        ),
        (
            replace(GOOD_DATABASE, tables={**SCHEMA, "sent": frozenset({"key", "card_id"})}),
            [
                "The database's table 'sent' has no column(s) 'at', 'comment_id', 'owner', "
                "'state': another version of incident-worker made it; migrate it, or point "
                "INCIDENT_DATABASE_URL at a new database."
            ],
        ),
        (  # extra tables and columns are someone else's business
            replace(
                GOOD_DATABASE,
                tables={**SCHEMA, "other": frozenset({"x"}), "sent": SCHEMA["sent"] | {"y"}},
            ),
            [],
        ),
        (
            replace(GOOD_DATABASE, revision="0001"),
            [
                f"The database is at schema revision 0001 and this worker needs revision {HEAD}: "
                "run `incident-worker migrate` (once, from any machine with these settings)."
            ],
        ),
        (
            replace(GOOD_DATABASE, revision=None, tables={}),
            [
                f"The database is empty and this worker needs revision {HEAD}: run "
                "`incident-worker migrate` (once, from any machine with these settings)."
            ],
        ),
        (
            replace(GOOD_DATABASE, revision="9999", known=False),
            [
                "The database is at schema revision 9999, which a newer incident-worker made "
                f"(this one knows up to {HEAD}): run the newer worker."
            ],
        ),
    ],
)
def test_database_problems(database: DatabaseSeen, sentences: list[str]) -> None:
    row = ops.database_row(database, SCHEMA)
    assert list(row.fixes) == sentences
    assert (row.status is Status.PROBLEM) == bool(sentences)


def test_the_table_lists_every_problem_then_counts_them() -> None:
    board = BoardSeen("b1", "Ops", ("Bug",), ())
    rows = ops.check_rows(seen(boards=(board,)), WANTED, SCHEMA)
    text = ops.render_check(rows)
    assert text.splitlines()[2].split() == [
        "PROBLEM",
        "labels",
        "on",
        "'Ops'",
        "missing",
        "'Incident',",
        "'Workaround',",
        "'Resolved'",
    ]
    assert text.count("\n- ") == 4
    assert text.endswith("4 problems: the worker is not ready.")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (AuthError("401"), Failure.REFUSED),
        (NotFoundError("404"), Failure.NOT_FOUND),
        (RequestRejected("invalid id", status=400), Failure.NOT_FOUND),
        (RequestRejected("nope", status=403), Failure.REJECTED),
        (TrelloUnavailable("503"), Failure.UNREACHABLE),
    ],
)
def test_errors_become_failures(error: Exception, kind: Failure) -> None:
    assert ops.failed(error).kind is kind  # type: ignore[arg-type]


def test_database_urls_are_shown_without_passwords() -> None:
    assert ops.shown_url("postgresql://iw:s3cret@db/iw") == "postgresql://iw:***@db/iw"
    assert ops.shown_url("sqlite:///incident-worker.sqlite3") == "sqlite:///incident-worker.sqlite3"


# -- setup ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        (["Incident", "Workaround", "Resolved"], []),
        (["incident", "WORKAROUND", "Resolved", "Bug"], []),
        ([], [("Incident", "red"), ("Workaround", "yellow"), ("Resolved", "green")]),
        (["Incident"], [("Workaround", "yellow"), ("Resolved", "green")]),
    ],
)
def test_missing_labels_with_their_colours(
    present: list[str], missing: list[tuple[str, str]]
) -> None:
    assert ops.missing_labels(WANTED, present) == missing


def test_one_label_named_by_two_settings_is_created_once() -> None:
    wanted = Wanted((("INCIDENT_LABEL", "Incident"), ("INCIDENT_RESOLVED_LABEL", "incident")), ())
    assert ops.missing_labels(wanted, []) == [("Incident", "red")]


# -- status ---------------------------------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = a_policy(TEMPLATE, "w0", reminder_seconds=900, role_reminder_seconds=300)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 min"),
        (59, "0 min"),
        (60 * 45, "45 min"),
        (60 * 60, "1 h 0 min"),
        (2 * 3600 + 5 * 60 + 30, "2 h 5 min"),
        (27 * 3600, "1 d 3 h"),
        (-5, "0 min"),
    ],
)
def test_age(seconds: float, text: str) -> None:
    assert ops.format_age(seconds) == text


def incident(**update: object) -> Incident:
    detection = CommItem(checklist_id="cl", item_id="i1", name="When we first notice the problems.")
    base = Incident(
        card_id="c1",
        board_id="b1",
        name="Checkout is down",
        short_link="AbC123",
        declared_at=T0,
        declared_by="alice",
        template_version=TEMPLATE.version,
        phase_started={Phase.INVESTIGATING: T0},
        lead="alice",
        communicator="bob",
        comm_items={Moment.DETECTION: detection},
    )
    return base.model_copy(update=update)


@pytest.mark.parametrize(
    ("minutes", "sent", "overdue"),
    [
        (10, {}, []),  # nothing due yet
        (16, {}, ["tell everyone the problem is noticed (reminder 1)"]),
        (16, {"remind-detection-1": "sent"}, []),
        (  # not known to be sent
            16,
            {"remind-detection-1": "sending"},
            ["tell everyone the problem is noticed (reminder 1)"],
        ),
        (31, {"remind-detection-1": "sent"}, ["a status update (reminder 1)"]),
        (
            46,  # the second wait is twice the first
            {"remind-detection-1": "sent"},
            ["tell everyone the problem is noticed (reminder 2)", "a status update (reminder 1)"],
        ),
    ],
)
def test_overdue_reminders(minutes: int, sent: dict[str, str], overdue: list[str]) -> None:
    now = T0 + timedelta(minutes=minutes)
    case = incident()
    states = {comment_key(case, key): state for key, state in sent.items()}
    assert ops.overdue_reminders(case, now, POLICY, states) == overdue


def test_no_communicator_is_an_overdue_role_reminder() -> None:
    case = incident(communicator=None, comm_items={})
    assert ops.overdue_reminders(case, T0 + timedelta(minutes=6), POLICY, {}) == [
        "name a communicator (reminder 1)"
    ]


def test_status_table() -> None:
    now = T0 + timedelta(hours=2, minutes=5)
    lines = [
        ops.IncidentLine(incident(), "'Ops'", ("remind-detection-8",)),
        ops.IncidentLine(
            incident(
                card_id="c2",
                name="Search is slow",
                short_link="",
                lead=None,
                communicator=None,
                phase=Phase.WORKAROUND,
                declared_at=now,
            ),
            "b2",
            (),
        ),
    ]
    table = ops.status_table(lines, now).splitlines()
    assert [re.split(r"\s{2,}", line) for line in table] == [
        ["BOARD", "CARD", "PHASE", "LEAD", "COMMUNICATOR", "AGE", "OVERDUE REMINDERS"],
        ["'Ops'", "Checkout is down (AbC123)", "investigating", "@alice", "@bob", "2 h 5 min"]
        + ["remind-detection-8"],
        ["b2", "Search is slow (c2)", "workaround", "-", "-", "0 min", "-"],
    ]
    assert (
        len({line.index(cell) for line, cell in zip(table, ("PHASE", "inv", "wor"), strict=True)})
        == 1
    )


def test_no_open_incidents() -> None:
    assert ops.status_table([], T0) == "No open incidents."


def test_closed_incidents_are_listed_apart_from_open_ones() -> None:
    closed = incident(card_id="c9", name="Old outage", phase=Phase.CLOSED)
    text = ops.status_table([ops.IncidentLine(closed, "'Ops'", ())], T0)
    first, blank, heading, header, row = text.splitlines()
    assert (first, blank, heading) == (
        "No open incidents.",
        "",
        "Closed (the post mortem is done):",
    )
    assert header.startswith("BOARD") and "Old outage" in row and "closed" in row


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("remind-detection-3", "tell everyone the problem is noticed (reminder 3)"),
        ("remind-workaround-1", "tell everyone there is a workaround (reminder 1)"),
        ("remind-resolution-r2-4", "tell everyone it is resolved (reminder 4)"),
        ("role-lead-2", "name a lead (reminder 2)"),
        ("status-1772442000-1", "a status update (reminder 1)"),
        ("pm-eve", "book the post mortem (due the next business day)"),
        ("pm-due-r2", "the post mortem (due now)"),
        ("pm-late-3", "the post mortem (3 business days late)"),
        ("pm-late-1-r2", "the post mortem (1 business day late)"),
    ],
)
def test_reminders_in_words(key: str, words: str) -> None:
    assert reminders.words(key) == words


# -- the example settings files -------------------------------------------------------------


@pytest.mark.parametrize("path", ["config/settings.example.env", "deploy/env.example"])
def test_the_example_settings_files_name_every_setting(path: str) -> None:
    from worker.settings import Settings

    text = (ROOT / path).read_text()
    shown = {line[2:].split("=", 1)[0] for line in text.splitlines() if "=" in line[:40]}
    names = {str(field.validation_alias) for field in Settings.model_fields.values()}
    assert names <= shown
