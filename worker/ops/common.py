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

    @classmethod
    def from_settings(cls, settings: Settings) -> Wanted:
        return cls(
            labels=(
                ("INCIDENT_LABEL", settings.incident_label),
                ("INCIDENT_WORKAROUND_LABEL", settings.workaround_label),
                ("INCIDENT_RESOLVED_LABEL", settings.resolved_label),
            ),
            resolved_lists=tuple(settings.resolved_lists),
        )


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
