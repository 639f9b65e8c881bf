"""`setup`: create the labels the boards lack and the follow-ups' list, then let the `Worker`
make the template cards."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from worker.ops.common import Wanted, followup_boards
from worker.settings import Settings
from worker.store.database import Store
from worker.trello.client import Trello

#: The labels the worker needs, by setting, and the colour `setup` gives a new one.
LABEL_SETTINGS = (
    ("INCIDENT_LABEL", "red"),
    ("INCIDENT_WORKAROUND_LABEL", "yellow"),
    ("INCIDENT_RESOLVED_LABEL", "green"),
)


def missing_labels(wanted: Wanted, present: Iterable[str]) -> list[tuple[str, str]]:
    """(name, colour) of each label the board lacks, once each, in the settings' order."""
    have = {name.casefold() for name in present}
    colours = dict(LABEL_SETTINGS)
    out: list[tuple[str, str]] = []
    for setting, name in wanted.labels:
        if name.casefold() not in have:
            have.add(name.casefold())
            out.append((name, colours[setting]))
    return out


# -- the command (I/O) ----------------------------------------------------------------------


def _make_list(trello: Trello, board_id: str, name: str) -> str | None:
    """Make the open list `name` on the board unless it has one; what was done, in words."""
    if any(str(item.get("name")) == name for item in trello.lists(board_id)):
        return None
    trello.create_list(board_id, name)
    board = str(trello.board(board_id).get("name", board_id))
    return f"Board {board!r}: made the list {name!r} (INCIDENT_FOLLOWUP_LIST) for follow-ups."


def run_setup(settings: Settings, template_path: Path, out: TextIO) -> int:
    """Create the missing labels, then make each board's template card if missing or stale."""
    from worker.runtime.template_cards import TemplateCards
    from worker.template import load_template

    template = load_template(template_path)
    wanted = Wanted.from_settings(settings)
    changes: list[str] = []
    trello = Trello.from_settings(settings)
    store = Store.open(settings.database_url)
    try:
        names: dict[str, str] = {}
        for board_id in settings.watched_boards:
            board = trello.board(board_id)
            names[board["id"]] = name = str(board.get("name", board_id))
            present = [
                str(label["name"]) for label in trello.labels(board["id"]) if label.get("name")
            ]
            for label, colour in missing_labels(wanted, present):
                trello.create_label(board["id"], label, colour)
                changes.append(f"Board {name!r}: created the label {label!r} ({colour}).")
        if template.followups is not None:
            for board_id in followup_boards(settings):
                made = _make_list(trello, board_id, settings.followup_list)
                if made:
                    changes.append(made)
        before = {board_id: store.template_cards.get(board_id) for board_id in names}
        cards = TemplateCards(trello, store, template)
        for board_id in names:
            cards.get(board_id)
        for board_id, name in names.items():
            was, now = before[board_id], store.template_cards.get(board_id)
            if now is not None and (was is None or was.card_id != now.card_id):
                changes.append(
                    f"Board {name!r}: made the template card for template v{now.version}."
                )
    finally:
        trello.close()
        store.close()
    print("\n".join(changes) if changes else "Nothing to do.", file=out)
    return 0
