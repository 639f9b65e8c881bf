"""`status`: the open incidents from the store, with board names from Trello when it answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from worker.core import reminders
from worker.core.keys import comment_key
from worker.core.model import Incident, Phase, Policy
from worker.errors import NotFoundError, TrelloError, TrelloUnavailable
from worker.ops.common import shown_url, table_lines
from worker.runtime.leases import ALL_BOARDS
from worker.settings import Settings
from worker.store.database import Lease, Store
from worker.trello.client import Json, Trello


def format_age(seconds: float) -> str:
    """How long ago, to the minute: "0 min", "45 min", "2 h 5 min", "3 d 4 h"."""
    minutes = max(0, int(seconds // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def overdue_reminders(
    incident: Incident, now: datetime, policy: Policy, sent: Mapping[str, str]
) -> list[str]:
    """The reminders due now that were not sent, in words (`sent`: the store's key -> state)."""
    return [
        reminders.words(comment.key)
        for comment in reminders.due(incident, now, policy)[1]
        if sent.get(comment_key(incident, comment.key)) != "sent"
    ]


@dataclass(frozen=True)
class IncidentLine:
    incident: Incident
    board: str
    overdue: tuple[str, ...]


def as_on_card(incident: Incident, card: Json | None) -> Incident:
    """The incident with the card's current name and short link, when Trello gave them."""
    if card is None:
        return incident
    update = {
        "name": str(card.get("name") or incident.name),
        "short_link": str(card.get("shortLink") or incident.short_link),
    }
    return incident.model_copy(update=update)


def status_table(lines: Sequence[IncidentLine], now: datetime) -> str:
    """The open incidents, then those closed (post mortem done) still on their boards."""
    running = [line for line in lines if line.incident.phase is not Phase.CLOSED]
    closed = [line for line in lines if line.incident.phase is Phase.CLOSED]
    parts = [_table(running, now) if running else "No open incidents."]
    if closed:
        parts += ["", "Closed (the post mortem is done):", _table(closed, now)]
    return "\n".join(parts)


def _table(lines: Sequence[IncidentLine], now: datetime) -> str:
    rows = [("BOARD", "CARD", "PHASE", "LEAD", "COMMUNICATOR", "AGE", "OVERDUE REMINDERS")]
    for line in lines:
        incident = line.incident
        card = f"{incident.name} ({incident.short_link or incident.card_id})"
        rows.append(
            (
                line.board,
                card,
                incident.phase.value,
                _at(incident.lead),
                _at(incident.communicator),
                format_age((now - incident.declared_at).total_seconds()),
                ", ".join(line.overdue) if line.overdue else "-",
            )
        )
    return "\n".join(table_lines(rows))


def followups_table(incidents: Sequence[Incident], now: datetime) -> str:
    """The follow-ups still to be done, across incidents, oldest first."""
    found = sorted(
        (
            (followup, incident)
            for incident in incidents
            for followup in incident.followups.values()
            if followup.open
        ),
        key=lambda pair: (pair[0].made_at, pair[0].due),
    )
    if not found:
        return "No open follow-ups."
    rows = [("FOLLOW-UP", "OWNER", "DUE", "STATE", "INCIDENT")]
    for followup, incident in found:
        late = now >= followup.due
        rows.append(
            (
                f"{followup.name} ({followup.url or 'no card yet'})",
                _at(followup.owner),
                followup.due.strftime("%Y-%m-%d"),
                f"late {format_age((now - followup.due).total_seconds())}" if late else "open",
                incident.name,
            )
        )
    return "\n".join(["Open follow-ups (oldest first):", *table_lines(rows)])


def holders_table(
    leases: Sequence[Lease], boards: Sequence[str], names: Mapping[str, str], now: datetime
) -> str:
    """Which replica holds which watched board, and since when (from the store's leases)."""
    by_unit = {lease.unit: lease for lease in leases}
    rows = [("BOARD", "HELD BY", "FOR")]
    for board_id in boards:
        lease = by_unit.get(board_id) or by_unit.get(ALL_BOARDS)
        name = names.get(board_id, board_id)
        if lease is None:
            rows.append((name, "- (no replica holds it)", "-"))
        elif not lease.live:
            rows.append((name, f"- (the lease of {lease.holder} ran out)", "-"))
        else:
            held_for = format_age((now - lease.since).total_seconds())
            rows.append((name, lease.holder, held_for))
    return "\n".join(table_lines(rows))


def _at(username: str | None) -> str:
    return f"@{username}" if username else "-"


# -- the command (I/O) ----------------------------------------------------------------------


def open_for_reading(url: str) -> Store | None:
    """The store, or None when its SQLite file does not exist (opening would create it)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is not None and parsed.drivername.startswith("sqlite"):
        database = parsed.database or ""
        if database and database != ":memory:" and not Path(database).exists():
            return None
    return Store.open(url)


def run_status(settings: Settings, template_path: Path, out: TextIO) -> int:
    """The open incidents, from the store; board names from Trello when it answers."""
    from worker.settings import build_policy
    from worker.template import load_template

    template = load_template(template_path)
    store = open_for_reading(settings.database_url)
    if store is None:
        print(
            f"No open incidents (the database {shown_url(settings.database_url)} does not exist "
            "yet: the worker has not run with these settings).",
            file=out,
        )
        return 0
    try:
        incidents = store.incidents.open()
        with_followups = store.incidents.with_open_followups()
        sent = {incident.card_id: store.claims.of_card(incident.card_id) for incident in incidents}
        leases = store.replicas.leases()
    finally:
        store.close()
    # Once and quickly: a status that waits minutes for a Trello that is down helps nobody.
    quick = settings.model_copy(
        update={
            "retry_attempts": 1,
            "http_timeout_seconds": min(5.0, settings.http_timeout_seconds),
        }
    )
    trello = Trello.from_settings(quick)
    board_names: dict[str, str] = {}
    cards: dict[str, Json] = {}
    member_id, note = "", ""
    try:
        member_id = str(trello.me()["id"])
        with_incidents = {incident.board_id for incident in incidents}
        for board_id in sorted(with_incidents | set(settings.watched_boards)):
            with suppress(NotFoundError):
                board_names[board_id] = repr(str(trello.board(board_id).get("name", board_id)))
                if board_id in with_incidents:
                    cards.update((card["id"], card) for card in trello.card_links(board_id))
    except TrelloUnavailable as exc:
        note = f"Trello could not be reached ({exc}); boards are shown by id."
    except TrelloError as exc:
        note = f"Trello refused to answer ({exc}); boards are shown by id."
    finally:
        trello.close()
    policy = build_policy(settings, template, member_id)
    now = datetime.now(UTC)
    lines = [
        IncidentLine(
            as_on_card(incident, cards.get(incident.card_id)),
            board_names.get(incident.board_id, incident.board_id),
            tuple(overdue_reminders(incident, now, policy, sent[incident.card_id])),
        )
        for incident in incidents
    ]
    if note:
        print(note, file=out)
    print(status_table(lines, now), file=out)
    print("", file=out)
    print(followups_table(with_followups, now), file=out)
    print("", file=out)
    print(holders_table(leases, settings.watched_boards, board_names, now), file=out)
    return 0
