"""`check`: read Trello, the template and the database into a `Seen` (`look`), turn it into
`Row`s (`check_rows`) and render them (`render_check`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TextIO

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from worker.errors import AuthError, ConfigError, NotFoundError, TrelloError, TrelloUnavailable
from worker.ops.common import Wanted, shown_url, table_lines
from worker.settings import Settings
from worker.store import schema
from worker.store.database import Store, metadata
from worker.trello.client import Trello

# -- check: what was read -------------------------------------------------------------------


class Failure(StrEnum):
    """How a request to Trello went wrong, as far as the operator needs to know."""

    REFUSED = "refused"  # 401: key or token
    NOT_FOUND = "not found"  # 404, or a malformed id (Trello says 400)
    UNREACHABLE = "unreachable"  # 429/5xx/timeouts after the retries
    REJECTED = "rejected"  # any other refusal


@dataclass(frozen=True)
class Failed:
    kind: Failure
    message: str


def failed(exc: TrelloError) -> Failed:
    """Our exception, as data the decisions can read."""
    if isinstance(exc, AuthError):
        kind = Failure.REFUSED
    elif isinstance(exc, NotFoundError) or exc.status == 400:
        kind = Failure.NOT_FOUND
    elif isinstance(exc, TrelloUnavailable):
        kind = Failure.UNREACHABLE
    else:
        kind = Failure.REJECTED
    return Failed(kind, str(exc))


@dataclass(frozen=True)
class MemberSeen:
    username: str = ""
    failed: Failed | None = None


@dataclass(frozen=True)
class BoardSeen:
    board_id: str  # as written in the setting
    name: str = ""
    labels: tuple[str, ...] = ()
    lists: tuple[str, ...] = ()  # open lists, in order
    failed: Failed | None = None
    setting: str = "TRELLO_BOARD_ID"


@dataclass(frozen=True)
class TemplateSeen:
    path: str
    version: str = ""
    checklists: int = 0
    error: str = ""


@dataclass(frozen=True)
class DatabaseSeen:
    url: str  # password hidden
    error: str = ""
    #: table -> column names, as the database has them
    tables: Mapping[str, frozenset[str]] | None = None
    #: the schema revision the database is at (None: none), and the one this worker needs
    revision: str | None = None
    head: str = ""
    #: whether the revision is one this worker knows (not one of a newer worker)
    known: bool = True


@dataclass(frozen=True)
class Seen:
    api_url: str
    member: MemberSeen
    board_ids: tuple[str, ...]
    boards: tuple[BoardSeen, ...]  # empty when the credentials failed
    template: TemplateSeen
    database: DatabaseSeen


# -- check: what it means -------------------------------------------------------------------


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "PROBLEM"
    SKIPPED = "not checked"


@dataclass(frozen=True)
class Row:
    what: str
    status: Status
    detail: str
    fixes: tuple[str, ...] = ()


def expected_schema() -> dict[str, frozenset[str]]:
    """The tables and columns `worker.store.database` works with."""
    return {t.name: frozenset(c.name for c in t.columns) for t in metadata.sorted_tables}


def credentials_row(member: MemberSeen, api_url: str) -> Row:
    if member.failed is None:
        return Row("credentials", Status.OK, f"@{member.username}")
    return Row(
        "credentials", Status.PROBLEM, member.failed.kind.value, (_trello_fix(member, api_url),)
    )


def _trello_fix(member: MemberSeen, api_url: str) -> str:
    assert member.failed is not None
    kind = member.failed.kind
    if kind is Failure.REFUSED:
        return (
            "Trello refused the API key or token: check TRELLO_API_KEY and TRELLO_TOKEN "
            "(the token must be the worker member's, and not revoked)."
        )
    if kind is Failure.UNREACHABLE:
        return (
            f"Trello did not answer at {api_url}: check TRELLO_API_URL and the network, "
            "then run `incident-worker check` again."
        )
    return (
        f"Trello would not say whose token this is ({member.failed.message}): "
        "check TRELLO_API_KEY, TRELLO_TOKEN and TRELLO_API_URL."
    )


def skipped_board_rows(board_ids: Iterable[str], failure: Failure) -> list[Row]:
    """The boards not looked at, and why: what went wrong when asking whose token this is."""
    why = {
        Failure.REFUSED: "the credentials did not work",
        Failure.UNREACHABLE: "Trello did not answer",
    }.get(failure, "Trello would not say whose token this is")
    return [Row(f"board {board_id}", Status.SKIPPED, why) for board_id in board_ids]


def board_rows(board: BoardSeen, wanted: Wanted, api_url: str) -> list[Row]:
    """The board's own row, then its labels and lists (unless the board could not be read)."""
    what = f"board {board.board_id}"
    if board.failed is not None:
        kind = board.failed.kind
        if kind is Failure.NOT_FOUND:
            fix = (
                f"Board {board.board_id!r} (in {board.setting}) does not exist or the token's "
                f"member cannot see it: correct {board.setting}, or add the worker's member "
                "to the board."
            )
        elif kind is Failure.UNREACHABLE:
            fix = (
                f"Trello did not answer while board {board.board_id!r} was read ({api_url}): "
                "run `incident-worker check` again when it does."
            )
        elif kind is Failure.REFUSED:
            fix = (
                f"Trello refused the token on board {board.board_id!r}: check TRELLO_TOKEN "
                "and that the worker's member is on the board."
            )
        else:
            fix = f"Trello refused to show board {board.board_id!r}: {board.failed.message}."
        return [Row(what, Status.PROBLEM, kind.value, (fix,))]
    rows = [Row(what, Status.OK, repr(board.name))]
    if board.setting != "INCIDENT_FOLLOWUP_BOARD_ID":  # incidents run there
        rows += [labels_row(board, wanted), lists_row(board, wanted)]
    if board.board_id in wanted.followup_boards:
        rows.append(followups_row(board, wanted))
    return rows


def followups_row(board: BoardSeen, wanted: Wanted) -> Row:
    what = f"follow-ups on {board.name!r}"
    if wanted.followup_list in board.lists:
        return Row(what, Status.OK, f"follow-up cards go in {wanted.followup_list!r}")
    return Row(
        what,
        Status.OK,
        f"no list {wanted.followup_list!r} yet: `setup` makes it, else the worker at the first "
        "follow-up",
    )


def labels_row(board: BoardSeen, wanted: Wanted) -> Row:
    present = {name.casefold() for name in board.labels}
    missing = [(setting, name) for setting, name in wanted.labels if name.casefold() not in present]
    what = f"labels on {board.name!r}"
    if not missing:
        return Row(what, Status.OK, ", ".join(name for _, name in wanted.labels))
    fixes = tuple(
        f"Board {board.name!r} has no label {name!r} ({setting}): run `incident-worker setup`, "
        "or create it in Trello."
        for setting, name in missing
    )
    detail = "missing " + ", ".join(repr(name) for _, name in missing)
    return Row(what, Status.PROBLEM, detail, fixes)


def lists_row(board: BoardSeen, wanted: Wanted) -> Row:
    what = f"lists on {board.name!r}"
    if not board.lists:
        fix = (
            f"Board {board.name!r} has no open list: add one in Trello (declared incidents and "
            "the template card go in the first one)."
        )
        return Row(what, Status.PROBLEM, "no open list", (fix,))
    count = f"{len(board.lists)} open"
    if not wanted.resolved_lists:
        return Row(what, Status.OK, f"{count}; INCIDENT_RESOLVED_LISTS is empty")
    resolving = {name.casefold() for name in wanted.resolved_lists}
    found = [name for name in board.lists if name.strip().casefold() in resolving]
    if found:
        return Row(what, Status.OK, f"{count}; moving a card to {_names(found)} resolves it")
    fix = (
        f"Board {board.name!r} has none of the lists in INCIDENT_RESOLVED_LISTS "
        f"({_names(wanted.resolved_lists)}), so moving a card cannot resolve an incident: "
        "add one of them in Trello, or set INCIDENT_RESOLVED_LISTS to lists the board has."
    )
    return Row(what, Status.WARNING, f"{count}; none of INCIDENT_RESOLVED_LISTS", (fix,))


def template_row(template: TemplateSeen) -> Row:
    if template.error:
        fix = f"{template.error} Fix the file, or set INCIDENT_TEMPLATE to another one."
        return Row("template", Status.PROBLEM, f"invalid ({template.path})", (fix,))
    detail = f"v{template.version}, {template.checklists} checklists ({template.path})"
    return Row("template", Status.OK, detail)


def schema_problems(
    expected: Mapping[str, frozenset[str]], found: Mapping[str, frozenset[str]]
) -> list[str]:
    """One sentence per table the database lacks, or has without some of its columns."""
    problems = []
    for table, columns in expected.items():
        if table not in found:
            problems.append(
                f"The database has no table {table!r}: run `incident-worker migrate` to create it."
            )
            continue
        missing = sorted(columns - found[table])
        if missing:
            problems.append(
                f"The database's table {table!r} has no column(s) {_names(missing)}: another "
                "version of incident-worker made it; migrate it, or point "
                "INCIDENT_DATABASE_URL at a new database."
            )
    return problems


def database_row(database: DatabaseSeen, expected: Mapping[str, frozenset[str]]) -> Row:
    if database.error:
        fix = f"{database.error} Check INCIDENT_DATABASE_URL (and that its driver is installed)."
        return Row("database", Status.PROBLEM, f"cannot be opened ({database.url})", (fix,))
    if not database.known:
        fix = (
            f"The database is at schema revision {database.revision}, which a newer "
            f"incident-worker made (this one knows up to {database.head}): run the newer worker."
        )
        return Row("database", Status.PROBLEM, f"newer schema ({database.url})", (fix,))
    if database.revision != database.head:
        where = f"at schema revision {database.revision}" if database.revision else "empty"
        fix = (
            f"The database is {where} and this worker needs revision {database.head}: run "
            "`incident-worker migrate` (once, from any machine with these settings)."
        )
        return Row("database", Status.PROBLEM, f"schema behind ({database.url})", (fix,))
    problems = schema_problems(expected, database.tables or {})
    if problems:
        return Row("database", Status.PROBLEM, f"wrong schema ({database.url})", tuple(problems))
    detail = f"{database.url}, schema revision {database.head}, {len(expected)} tables"
    return Row("database", Status.OK, detail)


def check_rows(seen: Seen, wanted: Wanted, expected: Mapping[str, frozenset[str]]) -> list[Row]:
    """Everything `check` reports, in order: Trello, each board, the template, the database."""
    rows = [credentials_row(seen.member, seen.api_url)]
    if seen.member.failed is not None:
        rows += skipped_board_rows(seen.board_ids, seen.member.failed.kind)
    else:
        for board in seen.boards:
            rows += board_rows(board, wanted, seen.api_url)
    rows.append(template_row(seen.template))
    rows.append(database_row(seen.database, expected))
    return rows


def exit_code(rows: Iterable[Row]) -> int:
    return 1 if any(row.status is Status.PROBLEM for row in rows) else 0


def render_check(rows: Sequence[Row]) -> str:
    """The table, then how to fix each problem (and each warning), then the verdict."""
    lines = table_lines([(row.status.value, row.what, row.detail) for row in rows])
    problems = [fix for row in rows if row.status is Status.PROBLEM for fix in row.fixes]
    warnings = [fix for row in rows if row.status is Status.WARNING for fix in row.fixes]
    if problems:
        lines += ["", "To fix:"] + [f"- {fix}" for fix in problems]
    if warnings:
        lines += ["", "Worth a look:"] + [f"- {fix}" for fix in warnings]
    lines.append("")
    if problems:
        count = len(problems)
        lines.append(f"{count} problem{'s' if count > 1 else ''}: the worker is not ready.")
    else:
        lines.append("All is well.")
    return "\n".join(lines)


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names)


# -- the command (I/O) ----------------------------------------------------------------------


def look(settings: Settings, template_path: Path) -> Seen:
    """Read what `check` reports on: Trello as the token's member, the template, the database."""
    trello = Trello.from_settings(settings)
    try:
        try:
            member = MemberSeen(username=str(trello.me().get("username", "?")))
        except TrelloError as exc:
            member = MemberSeen(failed=failed(exc))
        boards: list[BoardSeen] = []
        if member.failed is None:
            for board_id, setting in _boards(settings):
                try:
                    found = trello.board(board_id)
                    labels = tuple(
                        str(label["name"])
                        for label in trello.labels(found["id"])
                        if label.get("name")
                    )
                    lists = tuple(str(item["name"]) for item in trello.lists(found["id"]))
                    boards.append(
                        BoardSeen(
                            board_id, str(found.get("name", board_id)), labels, lists, None, setting
                        )
                    )
                except TrelloError as exc:
                    boards.append(BoardSeen(board_id, failed=failed(exc), setting=setting))
    finally:
        trello.close()
    return Seen(
        api_url=settings.trello_api_url,
        member=member,
        board_ids=tuple(board_id for board_id, _ in _boards(settings)),
        boards=tuple(boards),
        template=_look_at_template(template_path, settings),
        database=_look_at_database(settings.database_url),
    )


def _boards(settings: Settings) -> list[tuple[str, str]]:
    """Each board `check` reads, with the setting that names it."""
    found = [
        (b, "TRELLO_BOARD_ID" if b in settings.trello_board_ids else "INCIDENT_BOARD_ID")
        for b in settings.watched_boards
    ]
    if settings.followup_board_id and settings.followup_board_id not in settings.watched_boards:
        found.append((settings.followup_board_id, "INCIDENT_FOLLOWUP_BOARD_ID"))
    return found


def _look_at_template(path: Path, settings: Settings) -> TemplateSeen:
    from worker.settings import build_policy
    from worker.template import TemplateError, load_template

    try:
        template = load_template(path)
        build_policy(settings, template, "")  # the settings that name its audiences
    except (TemplateError, ConfigError) as exc:
        return TemplateSeen(str(path), error=str(exc))
    return TemplateSeen(str(path), template.version, len(template.checklists))


def _look_at_database(url: str) -> DatabaseSeen:
    """Open the store as `run` would, then read its schema and revision.

    A SQLite file is created or brought up to date, as `run` does; a shared database
    (PostgreSQL) is only read: migrating it is `incident-worker migrate`'s.
    """
    shown = shown_url(url)
    try:
        store = Store.open(url) if url.startswith("sqlite") else Store.connect(url)
    except ConfigError as exc:
        return DatabaseSeen(shown, error=str(exc))
    try:
        found = schema.revision(store.engine)
        inspector = inspect(store.engine)
        tables = {
            name: frozenset(column["name"] for column in inspector.get_columns(name))
            for name in inspector.get_table_names()
        }
    except SQLAlchemyError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return DatabaseSeen(shown, error=f"INCIDENT_DATABASE_URL cannot be read ({first}).")
    finally:
        store.close()
    return DatabaseSeen(
        shown, tables=tables, revision=found.current, head=found.head, known=found.known
    )


def run_check(settings: Settings, template_path: Path, out: TextIO) -> int:
    rows = check_rows(
        look(settings, template_path), Wanted.from_settings(settings), expected_schema()
    )
    print(render_check(rows), file=out)
    return exit_code(rows)
