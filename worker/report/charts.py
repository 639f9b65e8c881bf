"""The insights' pictures: incidents per month, the times per month, by template version, and
the delay to tell each audience.

Drawn with matplotlib's Agg backend in a short-lived process of its own (`render_chart`, as
the timeline picture is: the worker stays small). Each chart is a PNG of 800 x 320 px.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter

from worker.report.insights import MEASURES, Insights
from worker.report.picture import draw_elsewhere

#: The charts, by name (the overview serves `/insights/<name>.png`), with their titles.
CHARTS = {
    "per-month": "Incidents per month, by severity",
    "times": "Median time from declaring, per month",
    "versions": "Median time from declaring, by template version",
    "audiences": "Delay to tell each audience (median and 90th percentile)",
}
WIDTH, HEIGHT, DPI = 8.0, 3.2, 100
COLOURS = ("#1f4e9c", "#e0a526", "#3c9a4a", "#b03a2e", "#6b6b6b", "#8e5cb0")

_REQUEST: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Insights | str])


def render_chart(
    name: str, found: Insights, *, timeout: float = 60.0, stop: threading.Event | None = None
) -> bytes:
    """The chart `name` (one of `CHARTS`) as a PNG, drawn in a process of its own."""
    if name not in CHARTS:
        raise KeyError(name)
    request = _REQUEST.dump_json({"chart": name, "insights": found})
    return draw_elsewhere("worker.report.charts", request, f"the chart {name!r}", timeout, stop)


def draw_chart(name: str, found: Insights) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    ax = fig.add_subplot()
    every = found.every
    if name == "per-month":
        months = list(every.per_month)
        levels = sorted({level for counts in every.per_month.values() for level in counts})
        bottom = [0] * len(months)
        for n, level in enumerate(levels):
            heights = [every.per_month[m].get(level, 0) for m in months]
            ax.bar(
                months,
                heights,
                width=0.6,
                bottom=bottom,
                label=level,
                color=COLOURS[n % len(COLOURS)],
            )
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set_xlim(-0.8, max(len(months), 3) - 0.2)  # a month or two stay narrow
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("incidents")
    elif name == "times":
        months = list(every.trend)
        for n, measure in enumerate(MEASURES):
            values = [_minutes(every.trend[m][measure]) for m in months]
            shown = [v if v is not None else float("nan") for v in values]  # a gap
            ax.plot(months, shown, marker="o", label=measure, color=COLOURS[n])
        ax.set_ylabel("minutes")
    elif name == "versions":
        versions = list(found.by_version)
        _grouped(
            ax,
            [f"v{v}" for v in versions],
            {
                measure: [_minutes(found.by_version[v].spreads[measure].median) for v in versions]
                for measure in MEASURES
            },
        )
        ax.set_ylabel("minutes")
    else:
        audiences = list(every.tell_delay)
        _grouped(
            ax,
            audiences,
            {
                "median": [_minutes(every.tell_delay[a].median) for a in audiences],
                "90th percentile": [_minutes(every.tell_delay[a].p90) for a in audiences],
            },
        )
        ax.set_ylabel("minutes")
    ax.set_title(CHARTS[name], loc="left", fontsize=12)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, frameon=False)
    else:
        ax.text(0.5, 0.5, "nothing to show yet", ha="center", transform=ax.transAxes)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.14)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def _grouped(ax: Any, labels: Sequence[str], series: dict[str, list[float | None]]) -> None:
    """Bars side by side: one group per label, one bar per series (missing values left out)."""
    width = 0.8 / max(1, len(series))
    for n, (name, values) in enumerate(series.items()):
        xs = [i + n * width for i, value in enumerate(values) if value is not None]
        ys = [value for value in values if value is not None]
        if ys:
            ax.bar(xs, ys, width=width, label=name, color=COLOURS[n % len(COLOURS)])
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(labels))], labels)


def _minutes(span: timedelta | None) -> float | None:
    return None if span is None else span.total_seconds() / 60


def _main() -> None:
    """`python -m worker.report.charts`: a JSON request on stdin, the PNG on stdout."""
    request = TypeAdapter(dict[str, Any]).validate_json(sys.stdin.buffer.read())
    found = TypeAdapter(Insights).validate_python(request["insights"])
    sys.stdout.buffer.write(draw_chart(request["chart"], found))


if __name__ == "__main__":
    _main()
