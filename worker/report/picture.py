"""The post mortem's timeline as a picture: phases as coloured bands, ticks as marks.

Drawn with matplotlib's Agg backend (no display needed), in a short-lived process of its own
(`render_png`): matplotlib costs a long-running worker some 45 MB it would keep for good, and a
picture is drawn once per resolution. 1000 x 360 px, a few tens of KB. (Three calls
into `matplotlib.dates` carry a type-ignore: that module ships without annotations.)
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from worker.errors import PictureError
from worker.report.timeline import Report

WIDTH, HEIGHT, DPI = 10.0, 3.6, 100
BANDS = {  # phase -> band colour; exact RGB, so tests can find them in the pixels
    "investigating": "#f6c7c3",
    "workaround": "#fbe3a1",
    "resolved": "#c5e8c8",
}
COMMUNICATION, OTHER, UNTICK = "#1f4e9c", "#6b6b6b", "#b03a2e"
_ROWS = {"communication": 2.0, "tick": 1.0}


def draw_elsewhere(
    module: str,
    request: bytes,
    what: str,
    timeout: float = 60.0,
    stop: threading.Event | None = None,
) -> bytes:
    """Run `python -m module` with `request` on its stdin; the PNG it writes on stdout.

    Raises `PictureError` (naming `what`) when that process fails or takes over `timeout` s,
    or when `stop` is set meanwhile (the worker is stopping: it does not wait for a picture)."""
    drawing = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    given: bytes | None = request
    while True:
        try:
            out, err = drawing.communicate(input=given, timeout=0.25)
            break
        except subprocess.TimeoutExpired:
            given = None  # written already
            if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
                drawing.kill()
                drawing.communicate()
                why = "the worker is stopping" if stop is not None and stop.is_set() else None
                raise PictureError(
                    f"drawing {what} was cut short: {why}"
                    if why
                    else f"drawing {what} took over {timeout:g} s"
                ) from None
    if drawing.returncode != 0 or not out.startswith(b"\x89PNG"):
        last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise PictureError(f"drawing {what} failed: {last}")
    return out


def render_png(
    report: Report,
    tz: ZoneInfo,
    *,
    timeout: float = 60.0,
    stop: threading.Event | None = None,
) -> bytes:
    """`draw_png`, in a process of its own (`python -m worker.report.picture`): the worker
    stays small. Raises `PictureError` when that process fails or takes over `timeout` s, or
    when `stop` is set meanwhile (the worker is stopping: it does not wait for a picture)."""
    request = _REQUEST.dump_json({"report": report, "tz": tz.key})
    return draw_elsewhere("worker.report.picture", request, "the timeline picture", timeout, stop)


def draw_png(report: Report, tz: ZoneInfo) -> bytes:
    """The report's timeline as a PNG: bands by phase start, marks for ticks, times in `tz`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    m = report.metrics
    starts = [("investigating", m.declared_at)]
    if m.to_workaround is not None:
        starts.append(("workaround", m.declared_at + m.to_workaround))
    if m.to_resolution is not None:
        starts.append(("resolved", m.declared_at + m.to_resolution))
    starts.sort(key=lambda s: s[1])
    times = [m.declared_at, *(e.at for e in report.timeline), *(at for _, at in starts)]
    first, last = min(times), max(times)
    span = max(last - first, timedelta(minutes=10))
    left, right = first - span * 0.03, first + span * 1.06

    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    ax = fig.add_subplot()
    for (phase, start), end in zip(starts, [s for _, s in starts[1:]] + [right], strict=True):
        ax.axvspan(_num(start), _num(end), color=BANDS[phase], lw=0, zorder=0)
        if end - start >= (right - left) * 0.08:  # narrow bands are named by the legend only
            ax.text(_num(start), 2.72, f" {phase}", fontsize=9, va="top", color="#333333")

    named = left - span  # where the last communication mark was named; closer ones are not
    for entry in report.timeline:
        if entry.kind not in ("tick", "untick"):
            continue
        comm = entry.moment is not None
        y = _ROWS["communication" if comm else "tick"]
        if entry.kind == "untick":
            ax.plot(_num(entry.at), y, marker="x", ms=8, mew=2, color=UNTICK, zorder=3)
        elif comm:
            ax.plot(_num(entry.at), y, marker="D", ms=9, color=COMMUNICATION, zorder=3)
            moment = entry.moment.value if entry.moment and entry.at - named > span / 12 else ""
            named = entry.at if moment else named
            ax.annotate(
                moment,
                (_num(entry.at), y),
                xytext=(0, -16),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color=COMMUNICATION,
            )
        else:
            ax.plot(_num(entry.at), y, marker="o", ms=6, color=OTHER, zorder=3)
    for entry in report.timeline:
        if entry.kind in ("declared", "phase", "reopened"):
            ax.axvline(_num(entry.at), color="#444444", lw=0.8, ls=":", zorder=1)

    ax.set_xlim(_num(left), _num(right))
    ax.set_ylim(0.3, 2.8)
    ax.set_yticks([1.0, 2.0], ["other items", "communication"])
    locator = mdates.AutoDateLocator(tz=tz, minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.ConciseDateFormatter(locator, tz=tz)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(formatter)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    title = report.card_name if len(report.card_name) <= 90 else report.card_name[:89] + "…"
    ax.set_title(f"Post mortem: {title}", loc="left", fontsize=12, parse_math=False)
    ax.legend(
        handles=[
            *(Patch(color=colour, label=phase) for phase, colour in BANDS.items()),
            Line2D([], [], ls="", marker="D", color=COMMUNICATION, label="communication ticked"),
            Line2D([], [], ls="", marker="o", color=OTHER, label="item ticked"),
            Line2D([], [], ls="", marker="x", mew=2, color=UNTICK, label="unticked"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.18),
        ncol=6,
        fontsize=8,
        frameon=False,
    )
    fig.subplots_adjust(left=0.12, right=0.98, top=0.88, bottom=0.3)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _num(at: datetime) -> float:
    import matplotlib.dates as mdates

    return float(mdates.date2num(at))  # type: ignore[no-untyped-call]


_REQUEST: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Report | str])


def _main() -> None:
    """`python -m worker.report.picture`: a JSON request on stdin, the PNG on stdout."""
    request = TypeAdapter(dict[str, Any]).validate_json(sys.stdin.buffer.read())
    report = TypeAdapter(Report).validate_python(request["report"])
    sys.stdout.buffer.write(draw_png(report, ZoneInfo(request["tz"])))


if __name__ == "__main__":
    _main()
