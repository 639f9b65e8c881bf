"""What more than one command needs: the labels and lists the settings ask for, the database
URL as it is shown, and the plain-text table."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from worker.settings import Settings
from worker.store.database import shown_url

__all__ = ["Wanted", "shown_url", "table_lines", "terminal_safe"]


@dataclass(frozen=True)
class Wanted:
    """What the settings ask each board to have."""

    labels: tuple[tuple[str, str], ...]  # (setting, label name)
    resolved_lists: tuple[str, ...]
    #: the list follow-up cards go in, and the boards that should have it
    followup_list: str = "Follow-ups"
    followup_boards: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Wanted:
        return cls(
            labels=(
                ("INCIDENT_LABEL", settings.incident_label),
                ("INCIDENT_WORKAROUND_LABEL", settings.workaround_label),
                ("INCIDENT_RESOLVED_LABEL", settings.resolved_label),
            ),
            resolved_lists=tuple(settings.resolved_lists),
            followup_list=settings.followup_list,
            followup_boards=tuple(followup_boards(settings)),
        )


def followup_boards(settings: Settings) -> list[str]:
    """The boards follow-up cards go to: `INCIDENT_FOLLOWUP_BOARD_ID`, else the boards where
    incidents run (the incident board, else every watched board)."""
    if settings.followup_board_id:
        return [settings.followup_board_id]
    if settings.incident_board_id:
        return [settings.incident_board_id]
    return list(settings.trello_board_ids)


def terminal_safe(text: str) -> str:
    """`text` with control and format characters shown as escapes (`\\x1b`), so a card's name
    cannot move the cursor, recolour or clear the operator's terminal."""
    return "".join(
        f"\\x{ord(ch):02x}" if unicodedata.category(ch) in ("Cc", "Cf") else ch for ch in text
    )


def table_lines(rows: Sequence[tuple[str, ...]]) -> list[str]:
    """Rows as aligned columns, every cell terminal-safe."""
    rows = [tuple(terminal_safe(cell) for cell in row) for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
