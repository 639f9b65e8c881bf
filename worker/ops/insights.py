"""`insights`: the figures across incidents, as files to attach or share, from the store.

The same page and pictures as the overview's `/insights` (`worker.web.overview`), written to a
folder; the table is printed too. Reads the store only: safe while the worker runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TextIO

from worker.ops.common import shown_url, table_lines
from worker.ops.status import open_for_reading
from worker.report.insights import insights
from worker.settings import Settings
from worker.web import views
from worker.web.overview import write_insights


def run_insights(settings: Settings, since: date | None, out: Path, stdout: TextIO) -> int:
    store = open_for_reading(settings.database_url)
    if store is None:
        print(
            f"No incidents yet (the database {shown_url(settings.database_url)} does not exist: "
            "the worker has not run with these settings).",
            file=stdout,
        )
        return 0
    try:
        incidents = store.incidents.all()
        reminded = store.claims.counted("remind-")
    finally:
        store.close()
    now = datetime.now(UTC)
    start = datetime.combine(since, time(), tzinfo=settings.tz) if since else None
    found = insights(incidents, reminded, now, settings.tz, start)
    versions, rows = views.insight_rows(found)
    header = ("MEASURE", "ALL", *(f"v{v}" for v in versions))
    print(
        "\n".join(table_lines([header, *((label, *cells) for label, cells in rows)])), file=stdout
    )
    generated = now.astimezone(settings.tz).strftime("as of %a %d %b %Y %H:%M %Z")
    written = write_insights(out, found, generated=generated)
    print(f"\nWrote {len(written)} files to {out} (open {written[0]}).", file=stdout)
    return 0
