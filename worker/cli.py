"""`incident-worker`: the command line.

Settings are built here once, from the environment, `.env` (or `--env-file`) and `--set
NAME=VALUE` flags, and passed down. Logging is configured here and nowhere else. Every known
failure ends as one line on stderr and a non-zero exit code, never a traceback:

    2  a setting, the template or the command line is wrong
    1  Trello (or the sandbox) refused or kept failing
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, cast

from worker import __version__
from worker.errors import AlreadyRunning, ConfigError, IncidentWorkerError, NotFoundError
from worker.settings import SECRET_SETTINGS, Settings, load_database_url, load_settings

logger = logging.getLogger(__name__)

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    handler: Handler = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # here, where a reader gone away is caught (below)
        return code
    except ConfigError as exc:
        _say_error(exc, args.log_format)
        return 2
    except IncidentWorkerError as exc:
        _say_error(exc, args.log_format)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # whoever read the output stopped (`report CARD | head`): stop as quietly as they did
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _say_error(exc: IncidentWorkerError, log_format: str) -> None:
    """The one line that ends a failed command: a JSON log line under `--log-format json`."""
    if log_format == "json":
        logger.error("%s", exc)
    else:
        print(f"incident-worker: {exc}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="incident-worker",
        description="Runs your incident process on Trello.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--env-file", default=".env", help="read settings from this file (default: .env)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set one setting, e.g. --set INCIDENT_POLL_SECONDS=5 (repeatable)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log (default: INFO)",
    )
    parser.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="log lines as text, or as one JSON object per line (default: text)",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    sandbox = _command(
        commands, "sandbox", help="serve a local Trello-compatible sandbox and print its settings"
    )
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    sandbox.add_argument("--boards", type=int, default=1, help="how many boards to seed")
    sandbox.set_defaults(handler=_sandbox)

    run = _command(commands, "run", help="run the worker: poll the boards and run incidents")
    run.add_argument(
        "--once", action="store_true", help="one full cycle (feed, reconcile, reminders), then exit"
    )
    run.add_argument(
        "--webhook",
        action="store_true",
        help="also serve the Trello webhook endpoint (as INCIDENT_WEBHOOK=true)",
    )
    run.set_defaults(handler=_run)

    webhook = _command(
        commands,
        "webhook",
        help="manage the Trello webhooks that call INCIDENT_WEBHOOK_CALLBACK_URL",
    )
    hooks = webhook.add_subparsers(title="actions", required=True, metavar="ACTION")
    _command(
        hooks, "register", help="one webhook per watched board (keeps existing ones)"
    ).set_defaults(handler=_webhook, action="register")
    _command(hooks, "list", help="the token's webhooks").set_defaults(
        handler=_webhook, action="list"
    )
    delete = _command(hooks, "delete", help="delete the webhooks calling the callback URL")
    delete.add_argument("--all", action="store_true", help="every webhook of the token")
    delete.set_defaults(handler=_webhook, action="delete")

    channels = _command(commands, "channels", help="the audiences' channels of INCIDENT_CHANNELS")
    channel_actions = channels.add_subparsers(title="actions", required=True, metavar="ACTION")
    test = _command(channel_actions, "test", help="send one test message to an audience's channels")
    test.add_argument("audience", help="the audience's short name, e.g. support")
    test.set_defaults(handler=_channels_test)

    declare = _command(
        commands, "declare", help="declare an incident: a new card carrying the incident label"
    )
    declare.add_argument("title", help='what is wrong, e.g. "Checkout is down"')
    declare.add_argument(
        "--board", help="board id (default: INCIDENT_BOARD_ID, else the first of TRELLO_BOARD_ID)"
    )
    declare.add_argument("--list", dest="list_name", help="list name (default: the first list)")
    declare.add_argument("--lead", metavar="@USER", help="who leads it (a member of the board)")
    declare.add_argument(
        "--communicator", metavar="@USER", help="who tells everyone (a member of the board)"
    )
    declare.add_argument(
        "--sev", metavar="LEVEL", help="the severity: a level of the template (1, critical...)"
    )
    declare.set_defaults(handler=_declare)

    report = _command(
        commands,
        "report",
        help="print an incident's post-mortem draft, built from the card's history",
    )
    report.add_argument("card", help="the card's id or short link")
    report.set_defaults(handler=_report)

    insights = _command(
        commands,
        "insights",
        help="write the insights across incidents (by template version) as a page and pictures",
    )
    insights.add_argument(
        "--since", type=_day, metavar="YYYY-MM-DD", help="only incidents declared from then on"
    )
    insights.add_argument(
        "--out",
        type=Path,
        default=Path("incident-insights"),
        metavar="DIR",
        help="the folder to write (default: ./incident-insights)",
    )
    insights.set_defaults(handler=_insights)

    replay = _command(
        commands,
        "replay",
        help="replay a card's history through the template, beside what the worker did",
    )
    replay.add_argument("card", help="the card's id or short link")
    replay.add_argument(
        "--template",
        type=Path,
        metavar="FILE",
        help="the template to replay with (default: INCIDENT_TEMPLATE, else the packaged one)",
    )
    replay.add_argument(
        "--sandbox",
        action="store_true",
        help="play it live on the built-in sandbox, with the worker running, and show the card",
    )
    replay.add_argument(
        "--speed",
        type=float,
        default=60.0,
        metavar="N",
        help="with --sandbox, how many times faster than it happened (default: 60)",
    )
    replay.set_defaults(handler=_replay)

    demo = _command(
        commands, "demo", help="play an incident on a built-in sandbox and show what happened"
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="afterwards, keep the sandbox and the worker running (until Ctrl-C) to look around",
    )
    demo.set_defaults(handler=_demo)

    check = _command(
        commands,
        "check",
        help="check the settings, Trello, the boards, the template and the database",
    )
    check.set_defaults(handler=_check)

    setup = _command(
        commands, "setup", help="create the labels the worker needs and each board's template card"
    )
    setup.set_defaults(handler=_setup)

    migrate = _command(
        commands,
        "migrate",
        help="bring the database's schema up to date (once per upgrade, any replica)",
    )
    migrate.set_defaults(handler=_migrate)

    status = _command(
        commands, "status", help="list the open incidents (reads only; safe while the worker runs)"
    )
    status.set_defaults(handler=_status)
    return parser


def _command(group: Any, name: str, *, help: str) -> argparse.ArgumentParser:  # noqa: A002
    """A subcommand whose `--help` opens with what it does: the line the command list shows."""
    described = help[0].upper() + help[1:] + "."
    return cast(argparse.ArgumentParser, group.add_parser(name, help=help, description=described))


def configure_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at `level`, as text lines or one JSON object per line (`worker.logs`);
    urllib3's lines (it logs every URL at DEBUG) never show a key or token."""
    from worker.logs import configure
    from worker.trello.session import hide_secrets_from_urllib3

    configure(level, fmt, sys.stderr)
    hide_secrets_from_urllib3()


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings for this run: environment, env file, then `--set` flags."""
    return load_settings(_overrides(args), env_file=args.env_file)


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    """The `--set NAME=VALUE` flags."""
    overrides = {}
    for item in args.overrides:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set {item!r} is not NAME=VALUE.")
        if name.strip() in SECRET_SETTINGS:
            raise ConfigError(
                f"--set {name.strip()}: secrets do not belong on the command line, where the "
                "process list shows them; put it in the environment or in .env."
            )
        overrides[name.strip()] = value
    return overrides


def _run(args: argparse.Namespace) -> int:
    from worker.runtime.worker import Worker
    from worker.store.database import Replica, Store
    from worker.template import load_template
    from worker.trello.client import Trello

    if args.webhook:
        args.overrides.append("INCIDENT_WEBHOOK=true")
    settings = settings_from(args)
    template = load_template(settings.template_path or default_template_path())
    store = Store.open(settings.database_url, replica=Replica.new(settings.lease_seconds))
    try:
        store.lock()
    except AlreadyRunning:
        store.close()
        raise
    trello = Trello.from_settings(settings)
    worker = Worker(settings, trello, store, template)
    try:
        if args.once:
            worker.run_once()
            return 1 if worker.failing_boards() else 0
        worker.run_forever()
        return 0
    finally:
        trello.close()
        store.close()


def _declare(args: argparse.Namespace) -> int:
    from worker.core.commands import roles_comment
    from worker.core.model import same_name
    from worker.ops.common import terminal_safe
    from worker.trello.client import Trello

    if not args.title.strip():
        raise ConfigError('declare needs a title saying what is wrong, e.g. "Checkout is down".')
    settings = settings_from(args)
    board_id = args.board or settings.incident_board_id or settings.trello_board_ids[0]
    if args.list_name is None and board_id == settings.incident_board_id:
        args.list_name = settings.incident_list
    trello = Trello.from_settings(settings)
    try:
        board = trello.board(board_id)
        lists = trello.lists(board_id)
        if args.list_name:
            chosen = [item for item in lists if item["name"] == args.list_name]
            if not chosen:
                names = ", ".join(repr(item["name"]) for item in lists)
                raise ConfigError(
                    f"Board {board['name']!r} has no open list {args.list_name!r} "
                    f"(its lists: {names})."
                )
        elif not lists:
            raise ConfigError(f"Board {board['name']!r} has no open list to put the card in.")
        target = (chosen if args.list_name else lists)[0]
        labels = [
            item
            for item in trello.labels(board_id)
            if same_name(str(item.get("name") or ""), settings.incident_label)
        ]
        if not labels:
            raise ConfigError(
                f"Board {board['name']!r} has no label {settings.incident_label!r} "
                "(INCIDENT_LABEL): create it on the board first."
            )
        given = _given_roles(args, board["name"], trello.board_members(board_id))
        if args.sev is not None:
            given["sev"] = _given_level(args.sev, settings)
        card = trello.create_card(target["id"], args.title)
        if given:  # read by the worker when it sees the label (see core.commands.ROLES_GIVEN)
            trello.comment(card["id"], roles_comment(given))
        trello.add_label(card["id"], labels[0]["id"])
    finally:
        trello.close()
    roles = "".join(
        f", severity {v}" if role == "sev" else f", {role} @{v}" for role, v in given.items()
    )
    print(terminal_safe(f"Declared: {card.get('shortUrl') or card['id']} ({args.title}){roles}"))
    return 0


def _given_level(word: str, settings: Settings) -> str:
    """`--sev`: the number of a level of the template, or a sentence naming the levels."""
    from worker.levels import find, listed
    from worker.template import load_template

    template = load_template(settings.template_path or default_template_path())
    level = find(template.levels, word)
    if level is None:
        levels = listed(template.levels) if template.levels else "its template names none"
        raise ConfigError(f"declare --sev: {word!r} is not a severity level ({levels}).")
    return str(level.number)


def _given_roles(
    args: argparse.Namespace, board_name: str, members: list[dict[str, Any]]
) -> dict[str, str]:
    """`--lead` and `--communicator` as role -> username, each a member of the board."""
    from worker.core.commands import GIVEN_ROLES

    usernames = sorted(str(m.get("username")) for m in members if m.get("username"))
    given = {}
    for role in GIVEN_ROLES:
        value = getattr(args, role)
        if value is None:
            continue
        name = value.strip().removeprefix("@").lower()
        if name not in usernames:
            known = ", ".join(f"@{u}" for u in usernames)
            raise ConfigError(
                f"declare --{role}: {value!r} is not a member of board {board_name!r} "
                f"(its members: {known})."
            )
        given[role] = name
    return given


def _report(args: argparse.Namespace) -> int:
    from worker.errors import RequestRejected
    from worker.report import draft
    from worker.settings import build_policy
    from worker.store.database import Store
    from worker.template import load_template
    from worker.trello.client import Trello

    settings = settings_from(args)
    template = load_template(settings.template_path or default_template_path())
    store = Store.open(settings.database_url)
    trello = Trello.from_settings(settings)
    try:
        try:
            card = trello.card(args.card)
        except (NotFoundError, RequestRejected):  # Trello says 400 for what cannot be an id
            raise NotFoundError(
                f"Card {args.card!r} does not exist or the token's member cannot see it."
            ) from None
        incident = store.incidents.get(card["id"])
        if incident is None:
            print(
                f"incident-worker: card {args.card!r} ({card.get('name', '')!r}) is not an "
                "incident: the worker has no record of it.",
                file=sys.stderr,
            )
            return 1
        policy = build_policy(settings, template, trello.me()["id"])
        history = trello.card_actions(card["id"])
        board_members = trello.board_members(incident.board_id)
        members = {str(m["username"]): str(m["id"]) for m in board_members if "username" in m}
    finally:
        trello.close()
        store.close()
    print(draft.markdown(incident, history, policy, members))
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date such as 2026-11-01") from None


def _insights(args: argparse.Namespace) -> int:
    from worker.ops.insights import run_insights

    return run_insights(settings_from(args), args.since, args.out, sys.stdout)


def _replay(args: argparse.Namespace) -> int:
    from worker.ops.replay import run_replay

    settings = settings_from(args)
    template = args.template or settings.template_path or default_template_path()
    if args.speed <= 0:
        raise ConfigError(f"--speed must be more than 0 (got {args.speed:g}).")
    live = args.speed if args.sandbox else None
    return run_replay(settings, args.card, template, sys.stdout, live=live)


def default_template_path() -> Path:
    """The template shipped with the package (a copy of config/incident-template.md)."""
    packaged = Path(__file__).with_name("default-template.md")
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parent.parent / "config" / "incident-template.md"


def _sandbox(args: argparse.Namespace) -> int:
    from worker.sandbox import serve_forever

    serve_forever(args.host, args.port, boards=args.boards)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from worker.demo import play

    play(out=sys.stdout, keep=args.keep)
    return 0


def _webhook(args: argparse.Namespace) -> int:
    from worker.ops.webhooks import run_delete, run_list, run_register

    settings = settings_from(args)
    if args.action == "register":
        return run_register(settings, sys.stdout)
    if args.action == "list":
        return run_list(settings, sys.stdout)
    return run_delete(settings, sys.stdout, everything=args.all)


def _channels_test(args: argparse.Namespace) -> int:
    from worker.runtime.courier import apprise_notify
    from worker.settings import scheme_of

    settings = settings_from(args)
    urls = settings.channels.get(args.audience)
    if not urls:
        known = ", ".join(sorted(settings.channels)) or "none"
        raise ConfigError(
            f"INCIDENT_CHANNELS has no channel for {args.audience!r} (it has: {known})."
        )
    failed = 0
    for n, url in enumerate(urls, start=1):
        why = apprise_notify(
            url.get_secret_value(),
            "incident-worker: a test",
            f"A test message to {args.audience} from incident-worker: this channel works.",
        )
        scheme = scheme_of(url.get_secret_value())
        print(f"channel {n} ({scheme}): " + ("sent" if why is None else f"failed: {why}"))
        failed += why is not None
    return 1 if failed else 0


def _check(args: argparse.Namespace) -> int:
    from worker.ops import run_check

    settings = settings_from(args)
    return run_check(settings, settings.template_path or default_template_path(), sys.stdout)


def _setup(args: argparse.Namespace) -> int:
    from worker.ops import run_setup

    settings = settings_from(args)
    return run_setup(settings, settings.template_path or default_template_path(), sys.stdout)


def _status(args: argparse.Namespace) -> int:
    from worker.ops import run_status

    settings = settings_from(args)
    return run_status(settings, settings.template_path or default_template_path(), sys.stdout)


def _migrate(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from worker.errors import DatabaseUnavailable
    from worker.store import schema
    from worker.store.database import Store, shown_url

    database_url = load_database_url(_overrides(args), env_file=args.env_file)
    where = shown_url(database_url)
    store = Store.connect(database_url)
    try:
        found = schema.revision(store.engine)
        if not found.known:
            raise ConfigError(
                f"The database at INCIDENT_DATABASE_URL ({where}) is at schema revision "
                f"{found.current}, newer than this worker knows ({found.head}): migrate it "
                "with the newer worker."
            )
        before, after = schema.upgrade(store.engine)
    except SQLAlchemyError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DatabaseUnavailable(f"Migrating the database {where} failed: {first}") from None
    finally:
        store.close()
    if before == after:
        print(f"The database {where} is at the current schema (revision {after}).")
    else:
        print(f"The database {where} is now at schema revision {after} (was {before or 'empty'}).")
    return 0
