"""Hostile input, in-process and fast: templates, settings, Trello actions and role commands.

Each bad input gets one clear sentence naming the file and line, the setting, or the action,
or is skipped with one warning; the worker's loop goes on. What the older suites already cover
(tests/test_template.py, tests/test_settings.py, tests/test_cli.py) is not repeated here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from pydantic import SecretStr

from tests.conftest import live_markup
from tests.factories import a_policy, in_process_worker, sandbox_values
from worker.cli import default_template_path, main
from worker.core import rules
from worker.core import trello_json as ev
from worker.core.model import Comment, Incident, Phase
from worker.core.trello_json import Board, UnexpectedAction, parse_action
from worker.demo import Person
from worker.errors import ConfigError, TrelloError
from worker.ops.common import table_lines
from worker.runtime.worker import Worker
from worker.sandbox import Sandbox, SandboxServer
from worker.sandbox.model import Action as SandboxAction
from worker.settings import Settings, load_settings
from worker.store.database import Store
from worker.template import TemplateError, load_template, parse_template
from worker.trello.client import Trello
from worker.trello.session import Credentials, RetryPolicy, TrelloSession

REQUIRED = {"TRELLO_API_KEY": "k" * 32, "TRELLO_TOKEN": "t" * 64, "TRELLO_BOARD_ID": "b1"}
SECONDS = sorted(
    str(field.validation_alias)
    for field in Settings.model_fields.values()
    if str(field.validation_alias).endswith("_SECONDS")
)

COMMUNICATE = """\
## Talk

- Consider communicating:
  - [ ] When we first notice it.
  - [ ] When there is a workaround.
  - [ ] When it is resolved.
"""


# -- templates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"\xef\xbb\xbf", b"   \n\n\t\n", b"---\nreminder_seconds: 60\n---\n"],
    ids=["empty", "only-a-bom", "blank-lines", "only-front-matter"],
)
def test_a_template_with_nothing_in_it_names_the_file_and_line(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "process.md"
    path.write_bytes(content)
    with pytest.raises(TemplateError) as caught:
        load_template(path)
    assert str(caught.value) == (
        f"{path}, line 1: the template has no checklist: put task items under a heading."
    )


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("## A\n<!-- incident: colour=red -->\n", 2, "unknown marker key 'colour'"),
        ("## A <!-- incident: phase -->\n", 1, "unknown phase '' in marker"),
        ("## A <!-- incident: PHASE=resolved -->\n", 1, "unknown marker key 'PHASE'"),
        ("## A <!-- incident: phase=resolved colour=red -->\n", 1, "unknown marker key 'colour'"),
        ("## A\n\n- [ ] x <!-- incident: communicate=later -->\n", 3, "unknown communicate"),
        ("## A\n\n- [ ] x\n  - [ ] y <!-- incident: owner=bob -->\n", 4, "unknown marker key"),
        ("## A\n\n- [ ] x\n- [] The support team.\n", 4, "looks like a task item but is not"),
        ("## A\n\n- [ ] x\n  - [ x] Tell them\n", 4, "looks like a task item but is not"),
    ],
)
def test_unknown_markers_anywhere_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(TemplateError) as caught:
        parse_template(text + "\n" + COMMUNICATE, path="team.md")
    assert str(caught.value).startswith(f"team.md, line {line}: ")
    assert fragment in str(caught.value)


def test_a_template_of_5000_items_parses_whole() -> None:
    items = "".join(f"- [ ] Step {n} 🧯 [runbook](https://example.com/{n})\n" for n in range(5000))
    template = parse_template("## Everything\n\n" + items + "\n" + COMMUNICATE)
    everything = template.checklists[0]
    assert len(everything.items) == 5000
    assert everything.items[-1].name == "Step 4999 🧯 [runbook](https://example.com/4999)"
    assert everything.items[-1].line == 5002


def test_links_and_emoji_are_kept_in_item_names() -> None:
    text = (
        "## Fire 🔥\n\n"
        "- [ ] Page the team 👩‍👩‍👧 via [PagerDuty](https://pd.example.com/x?a=1&b=2)\n"
        "  - [ ] Then tell <https://status.example.com> 🇸🇪 and **say** `why`\n"
        "\n" + COMMUNICATE
    )
    fire = parse_template(text).checklists[0]
    assert fire.name == "Fire 🔥"
    assert [item.name for item in fire.items] == [
        "Page the team 👩‍👩‍👧 via [PagerDuty](https://pd.example.com/x?a=1&b=2)",
        "↳ Then tell <https://status.example.com> 🇸🇪 and **say** `why`",
    ]


def test_a_utf8_bom_is_not_part_of_the_first_heading(tmp_path: Path) -> None:
    path = tmp_path / "bom.md"
    path.write_bytes(b"\xef\xbb\xbf# Our process\n\n" + COMMUNICATE.encode())
    template = load_template(path)
    assert template.title == "Our process"
    assert template.checklists[0].name == "Talk"


@pytest.mark.parametrize(
    "encoded",
    [
        ("# Process\n\n" + COMMUNICATE + "- [ ] Café\n").encode("latin-1"),
        ("# Process\n\n" + COMMUNICATE).encode("utf-16"),
    ],
    ids=["latin-1", "utf-16"],
)
def test_non_utf8_bytes_name_the_file(tmp_path: Path, encoded: bytes) -> None:
    path = tmp_path / "process.md"
    path.write_bytes(encoded)
    with pytest.raises(TemplateError, match=r"process\.md.*: the template is not UTF-8 text"):
        load_template(path)


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "process.md"
    path.write_bytes(("# Process\n\n" + COMMUNICATE + "- [ ] Café\n").encode("latin-1"))
    with pytest.raises(TemplateError) as caught:
        load_template(path)
    assert str(caught.value).startswith(f"{path}, line 9: ")


# -- settings -------------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`incident-worker ARGS` in-process: the exit code and the `incident-worker:` line."""
    code = main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("incident-worker: ")]
    assert len(errors) == 1, err
    return code, errors[0]


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_each_required_setting_missing_is_named_alone(
    missing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in REQUIRED.items():
        if name != missing:
            monkeypatch.setenv(name, value)
    code, line = run_cli(capsys, "run", "--once")
    assert code == 2
    assert line == (f"incident-worker: {missing} is not set: put it in the environment or in .env.")


@pytest.mark.parametrize("blank", ["TRELLO_API_KEY", "TRELLO_TOKEN"])
def test_a_blank_secret_is_named_as_not_set(blank: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**REQUIRED, blank: "  "}, env_file=None)
    assert str(caught.value).startswith(f"{blank} is not set")


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("value", ["-1", "-0.5", "0", "0.000001"])
def test_every_interval_has_a_sensible_least(name: str, value: str) -> None:
    """No polling every microsecond: each interval has a least value, named in the error."""
    with pytest.raises(ConfigError) as caught:
        load_settings({**REQUIRED, name: value}, env_file=None)
    assert re.fullmatch(rf"{name} must be at least [0-9.]+ \(got '{value}'\)\.", str(caught.value))


def test_a_negative_interval_on_the_command_line_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    code, line = run_cli(capsys, "--set", "INCIDENT_RECONCILE_SECONDS=-300", "run", "--once")
    assert code == 2
    assert line == ("incident-worker: INCIDENT_RECONCILE_SECONDS must be at least 1 (got '-300').")


@pytest.mark.parametrize("name", SECONDS)
def test_an_infinite_interval_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({**REQUIRED, name: "inf"}, env_file=None)


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, SandboxServer]]:
    sb = Sandbox.seeded()
    with sb.serve() as server:
        yield sb, server


def sandbox_settings(sb: Sandbox, server: SandboxServer, tmp_path: Path) -> dict[str, str]:
    database = f"sqlite:///{tmp_path}/w.sqlite3"
    return sandbox_values(sb, server, database, INCIDENT_RETRY_ATTEMPTS="1")


def test_a_board_id_with_spaces_is_named_with_its_setting(
    served: tuple[Sandbox, SandboxServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb, server = served
    for name, value in sandbox_settings(sb, server, tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRELLO_BOARD_ID", f"{sb.board_ids[0]}, not a board")
    code, line = run_cli(capsys, "run", "--once")
    assert code in (1, 2)
    assert "'not a board'" in line and "TRELLO_BOARD_ID" in line


@responses.activate
def test_a_malformed_board_id_refused_by_trello_is_named_with_its_setting() -> None:
    responses.get("http://trello.test/1/boards/not%20a%20board", status=400, body="invalid id")
    trello = Trello(
        TrelloSession(
            "http://trello.test/1",
            credentials=Credentials(SecretStr("k" * 32), SecretStr("t" * 64)),
            retry=RetryPolicy(attempts=1),
        )
    )
    with pytest.raises(TrelloError) as caught:
        trello.board("not a board")
    assert "TRELLO_BOARD_ID" in str(caught.value)
    assert "'not a board'" in str(caught.value)


# -- Trello actions of odd shapes -----------------------------------------------------------

WHEN = "2024-05-01T10:00:00.000Z"


def action(kind: str = "commentCard", **changes: Any) -> dict[str, Any]:
    """A well-formed action of `kind`, then `changes` (None deletes a key; `data` merges)."""
    raw: dict[str, Any] = {
        "id": "a1",
        "type": kind,
        "date": WHEN,
        "idMemberCreator": "m1",
        "memberCreator": {"id": "m1", "username": "alice"},
        "data": {
            "card": {"id": "c1", "name": "Checkout", "shortLink": "abc"},
            "board": {"id": "b1", "name": "Ops"},
            "text": "hello",
        },
    }
    data = changes.pop("data", {})
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    for key, value in data.items():
        if value is None:
            raw["data"].pop(key, None)
        else:
            raw["data"][key] = value
    return raw


AT = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
ON_CARD = {
    "action_id": "a1",
    "at": AT,
    "member_id": "m1",
    "card_id": "c1",
    "card_name": "Checkout",
    "board_id": "b1",
    "short_link": "abc",
}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (action("someFutureActionType"), None),
        (action("addAttachmentToCard", data={"attachment": {"id": "x", "url": "https://x"}}), None),
        (action("commentCard", data={"card": None}), None),  # no card: nothing of ours
        (action("updateCard", data={"listBefore": {"id": "l1", "name": "Doing"}}), None),
        (action("updateCard", data={"old": {"desc": "before"}}), None),
        (
            action("addLabelToCard", data={"label": None, "text": None}),
            ev.LabelAdded(**ON_CARD, username="alice", label=""),
        ),
        (
            action("commentCard", memberCreator=None),
            ev.Commented(**ON_CARD, username="", text="hello"),
        ),
        (
            action("commentCard", extra={"nested": [1, 2, {"deep": None}]}),
            ev.Commented(**ON_CARD, username="alice", text="hello"),
        ),
    ],
    ids=[
        "unknown-type",
        "attachment",
        "no-card",
        "half-a-move",
        "other-update",
        "label-without-name",
        "no-member-creator",
        "unknown-keys",
    ],
)
def test_actions_the_worker_has_no_use_for_or_can_read(
    raw: dict[str, Any], expected: ev.Event | None
) -> None:
    assert parse_action(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (action(id=None), "action ? (commentCard)"),
        (action(type=None), "action a1 (?)"),
        (action(date=None), "date"),
        (action(date="yesterday"), "date"),
        (action(idMemberCreator=None), "idMemberCreator"),
        (action() | {"data": "text"}, "data"),
        (action("someFutureActionType") | {"data": None}, "data"),
        (action(data={"card": {"name": "no id"}}), "data.card.id"),
        (action(data={"text": None}), "data.text is missing"),
        (action(data={"text": 42}), "data.text"),
        (action("updateCheckItemStateOnCard"), "data.checkItem is missing"),
        (
            action(
                "updateCheckItemStateOnCard",
                data={"checkItem": {"id": "i1", "name": "x"}, "checklist": {"id": "l"}},
            ),
            "data.checkItem.state",
        ),
        (action("updateCard", data={"old": "closed"}), "data.old"),
    ],
    ids=[
        "no-id",
        "no-type",
        "no-date",
        "bad-date",
        "no-member",
        "data-is-text",
        "data-is-null",
        "card-without-id",
        "comment-without-text",
        "comment-text-is-a-number",
        "tick-without-item",
        "tick-without-state",
        "old-is-text",
    ],
)
def test_actions_of_unexpected_shapes_raise_a_named_error(
    raw: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(UnexpectedAction) as caught:
        parse_action(raw)
    assert fragment in str(caught.value)


@pytest.mark.parametrize("raw", [None, [], "commentCard", 42], ids=["null", "list", "str", "int"])
def test_json_that_is_not_an_object_is_an_unexpected_action(raw: Any) -> None:
    with pytest.raises(UnexpectedAction):
        parse_action(raw)


@pytest.fixture
def worker(
    served: tuple[Sandbox, SandboxServer], tmp_path: Path
) -> Iterator[tuple[Worker, Sandbox]]:
    sb, server = served
    settings = load_settings(
        {**sandbox_settings(sb, server, tmp_path), "INCIDENT_REMINDER_SECONDS": "3600"},
        env_file=None,
    )
    with in_process_worker(settings) as running:
        running.boards.take_share()
        for board_id in running.leases.boards():
            running.boards.ready(board_id)
        yield running, sb


def board_of(running: Worker) -> Board:
    (board,) = running.boards.held()
    return board


ODD = [
    action(id=None),
    action(date="yesterday"),
    action(data={"text": None}),
    action("updateCheckItemStateOnCard"),
    action("someFutureActionType") | {"data": None},
]


@pytest.mark.parametrize("raw", ODD, ids=["no-id", "bad-date", "no-text", "no-item", "no-data"])
def test_the_worker_skips_an_unreadable_action_with_one_warning(
    worker: tuple[Worker, Sandbox], raw: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    running, _ = worker
    caplog.set_level(logging.INFO)
    running.handler.handle(board_of(running), raw, running.policy)
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1
    assert "skipping an action I cannot read" in warned[0].getMessage()
    assert running.store.incidents.open() == []


def test_odd_actions_in_the_feed_are_skipped_and_the_loop_goes_on(
    worker: tuple[Worker, Sandbox], caplog: pytest.LogCaptureFixture
) -> None:
    running, sb = worker
    board = board_of(running)
    state, alice = sb.state, sb.members["alice"]
    person = Person(sb, running.settings.trello_api_url, "alice")
    try:
        card = person.create_card(board.id, "Checkout is down")
        person.label(card.id, "Incident")
        running.cycle(reconcile=False)
        (incident,) = running.store.incidents.open()
        caplog.set_level(logging.INFO)
        with state.lock:
            ref = {"id": card.id, "name": card.name}
            for kind, data in [
                ("someFutureActionType", {"card": ref}),
                ("commentCard", {"card": ref}),  # no text
                ("updateCheckItemStateOnCard", {"card": ref, "checkItem": {"id": "x"}}),
            ]:
                state.actions.append(
                    SandboxAction(
                        id=state.ids.new_id(),
                        type=kind,
                        member_id=alice.id,
                        date=datetime.now(UTC),
                        data=data,
                        board_id=board.id,
                        card_id=card.id,
                    )
                )
        person.comment(card.id, "/communicator @bob")
        running.cycle(reconcile=False)
    finally:
        person.close()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 2 and all("cannot read" in w for w in warned), warned
    (after,) = running.store.incidents.open()
    assert after.communicator == "bob"  # the action after the odd ones was handled
    assert after.declared_at == incident.declared_at and not running.failing_boards()


# -- role commands and people's markup ------------------------------------------------------

TEMPLATE = load_template(default_template_path())
POLICY = a_policy(TEMPLATE, "w0", meeting_url="https://meet.example/x")
MEMBERS = {"alice": "m1", "bob": "m2", "carol": "m3"}
AT = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def open_incident(**changes: Any) -> Incident:
    base = Incident(
        card_id="c1",
        board_id="b1",
        name="<script>alert(1)</script> **x** @board",
        declared_at=AT,
        declared_by="alice",
        template_version=TEMPLATE.version,
        phase_started={Phase.INVESTIGATING: AT},
        lead="alice",
    )
    return base.model_copy(update=changes)


def commented(text: str, by: str = "alice") -> ev.Commented:
    return ev.Commented(
        action_id="a9",
        at=AT,
        member_id=MEMBERS.get(by, "m9"),
        username=by,
        card_id="c1",
        card_name="Checkout",
        board_id="b1",
        short_link="abc",
        text=text,
    )


def comments(text: str, incident: Incident | None = None) -> tuple[Incident, list[str]]:
    new, effects = rules.on_event(incident or open_incident(), commented(text), POLICY, MEMBERS)
    assert new is not None
    return new, [a.text for a in effects if isinstance(a, Comment)]


@pytest.mark.parametrize(
    "text",
    [
        "/lead @alice @nobody",
        "/communicator bob",
        "/communicator bob@example.com",
        "/delvers @carol @ghost",
        "/quickfixers",
    ],
)
def test_role_commands_naming_strangers_change_nothing(text: str) -> None:
    before = open_incident()
    after, replies = comments(text, before)
    assert (after.lead, after.communicator, after.delvers, after.quickfixers) == (
        before.lead,
        before.communicator,
        before.delvers,
        before.quickfixers,
    )
    assert len(replies) == 1 and "Noted" not in replies[0]


def test_the_header_holds_no_text_people_typed() -> None:
    from worker.core import header

    rendered = header.render(open_incident(communicator="bob"))
    assert "<script>" not in rendered and "@board" not in rendered and "**x**" not in rendered


@pytest.mark.parametrize(
    "text",
    [
        "/workaround **bold** <img src=x> [x](javascript:alert(1)) @board",
        "/resolved **bold** <script>alert(1)</script> @card",
        "/allhands **bold** [x](javascript:alert(1)) @card",
        "/lead @board",
        "/communicator @card",
    ],
    ids=["workaround", "resolved", "allhands-reason", "lead-board", "communicator-card"],
)
def test_peoples_text_in_worker_comments_is_quoted(text: str) -> None:
    _, replies = comments(text)
    assert replies
    for reply in replies:
        if reply.startswith("**All hands**"):  # it mentions @board on purpose, once
            reply = reply.replace("@board", "", 1)
        assert live_markup(reply) == [], reply


# -- hostile input, low ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret", ["TRELLO_TOKEN", "TRELLO_API_KEY", "TRELLO_APP_SECRET", "INCIDENT_CHANNELS"]
)
def test_a_secret_on_the_command_line_is_refused(
    secret: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    code, line = run_cli(capsys, "--set", f"{secret}=abc123", "check")
    assert code == 2 and "abc123" not in line
    assert line == (
        f"incident-worker: --set {secret}: secrets do not belong on the command line, where the "
        "process list shows them; put it in the environment or in .env."
    )


def test_yaml_aliases_in_the_front_matter_are_refused_before_they_grow() -> None:
    bomb = "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
    bomb += "c: [*b, *b, *b, *b, *b, *b, *b, *b]\n---\n" + COMMUNICATE
    with pytest.raises(TemplateError) as caught:
        parse_template(bomb, path="t.md")
    assert str(caught.value) == (
        "t.md, line 2: the front matter may not use YAML anchors or aliases (& or *)."
    )


def test_a_template_over_a_mebibyte_is_refused_naming_its_size(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_text(COMMUNICATE + "\n" + "x" * (1 << 20))
    with pytest.raises(TemplateError, match=r"big.md: the template is 1,048,\d+ bytes; at most"):
        load_template(big)


def test_an_existing_database_file_is_tightened_to_its_owner(tmp_path: Path) -> None:
    file = tmp_path / "w.sqlite3"
    file.touch(mode=0o644)
    file.chmod(0o644)
    Store.connect(f"sqlite:///{file}").close()
    assert file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Checkout\x1b[2J\x1b[31m is down", "Checkout\\x1b[2J\\x1b[31m is down"),
        ("a\u202eb\rc\x07", "a\\x202eb\\x0dc\\x07"),
        ("Kassan är nere ✓", "Kassan är nere ✓"),
    ],
)
def test_names_cannot_drive_the_operators_terminal(name: str, shown: str) -> None:
    assert table_lines([(name, "x")]) == [f"{shown}  x"]


@pytest.mark.parametrize(
    ("channels", "sentence"),
    [
        (
            "not json",
            'INCIDENT_CHANNELS must be a JSON object, e.g. {"support": ["mailto://..."]}.',
        ),
        ('{"support": "json://x"}', "INCIDENT_CHANNELS must give a list of URLs for 'support'."),
        (
            '{"support": ["json://h/ok", "nosuch://tok3n@host"]}',
            "INCIDENT_CHANNELS has a channel Apprise does not know for 'support' (channel 2, "
            "nosuch).",
        ),
    ],
)
def test_a_channel_apprise_cannot_use_is_one_sentence_without_its_url(
    channels: str, sentence: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**REQUIRED, "INCIDENT_CHANNELS": channels}, env_file=None)
    assert str(caught.value) == sentence and "tok3n" not in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "sentence"),
    [
        (
            {"INCIDENT_OUTBOUND_URLS": "https://hooks.example.com/x"},
            "Signed outbound webhooks need both INCIDENT_OUTBOUND_URLS and "
            "INCIDENT_OUTBOUND_SECRET.",
        ),
        (
            {
                "INCIDENT_OUTBOUND_URLS": "ftp://x/y",
                "INCIDENT_OUTBOUND_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            },
            "INCIDENT_OUTBOUND_URLS has a URL that is not http(s) (the 1. one).",
        ),
        (
            {"INCIDENT_OUTBOUND_URLS": "https://x/y", "INCIDENT_OUTBOUND_SECRET": "not base64!"},
            "INCIDENT_OUTBOUND_SECRET is not a Standard Webhooks secret",
        ),
    ],
)
def test_outbound_webhooks_settings_are_one_sentence(extra: dict[str, str], sentence: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**REQUIRED, **extra}, env_file=None)
    assert sentence in str(caught.value) and "not base64!" not in str(caught.value)
