"""The timeline picture: a small PNG of the right size, with the phase bands in it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.factories import ROOT
from tests.report.test_timeline import (
    DETECT,
    RESOLUTION,
    WORKAROUND,
    comment,
    label,
    move,
    report,
    tick,
)
from worker.errors import PictureError
from worker.report import picture
from worker.report.timeline import Report

PNG = b"\x89PNG\r\n\x1a\n"
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def incident(days: int = 0) -> Report:
    end = days * 24 * 60
    return report(
        [
            label(0, "Incident"),
            tick(4, DETECT),
            tick(12, "Set up a call", who="carol"),
            label(38, "Workaround", who="bob"),
            tick(44, "Set up a call", done=False),
            tick(52, WORKAROUND),
            comment(70, "$x$ fix deployed"),
            move(95 + end, "Doing", "Done", who="carol"),
            tick(140 + end, RESOLUTION),
        ],
        name="Checkout is down: $\\frac{1}{0}$ <b>",  # no mathtext, no markup
    )


def colours(png: bytes) -> set[tuple[int, int, int]]:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    found = image.getcolors(maxcolors=1_000_000) or []
    return {(c[0], c[1], c[2]) for _, c in found if isinstance(c, tuple)}


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


@pytest.mark.parametrize("days", [0, 3])
def test_a_small_png_of_the_right_size_with_every_band(days: int) -> None:
    png = picture.draw_png(incident(days), STOCKHOLM)
    assert png.startswith(PNG)
    assert len(png) < 150_000
    from PIL import Image

    assert Image.open(io.BytesIO(png)).size == (1000, 360)
    found = colours(png)
    for colour in picture.BANDS.values():
        assert rgb(colour) in found, colour
    assert rgb(picture.COMMUNICATION) in found


def pixel(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    from PIL import Image

    r, g, b = Image.open(io.BytesIO(png)).convert("RGB").getpixel((x, y))  # type: ignore[misc]
    return (r, g, b)


@pytest.mark.parametrize(
    ("history", "last"),
    [
        ([label(0, "Incident"), tick(3, DETECT)], "investigating"),
        ([label(0, "Incident"), label(3, "Workaround")], "workaround"),
        ([label(0, "Incident"), label(3, "Workaround"), label(9, "Resolved")], "resolved"),
    ],
)
def test_the_band_at_the_right_end_is_the_last_phase_reached(
    history: list[dict[str, Any]], last: str
) -> None:
    png = picture.draw_png(report(history), STOCKHOLM)
    assert pixel(png, 960, 230) == rgb(picture.BANDS[last])  # inside the plot, near its corner


def test_the_same_report_draws_the_same_picture() -> None:
    assert picture.draw_png(incident(), STOCKHOLM) == picture.draw_png(incident(), STOCKHOLM)


def test_the_worker_draws_it_in_a_process_of_its_own_with_the_same_result() -> None:
    assert picture.render_png(incident(), STOCKHOLM) == picture.draw_png(incident(), STOCKHOLM)
    # and the calling process never loads matplotlib (checked in a fresh interpreter)
    probe = (
        "import sys; from tests.report.test_picture import incident, STOCKHOLM; "
        "from worker.report import picture; picture.render_png(incident(), STOCKHOLM); "
        "print(any(m.startswith('matplotlib') for m in sys.modules))"
    )
    root = ROOT
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == "False"


def test_a_drawing_process_that_fails_is_a_picture_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "no-such-backend")
    with pytest.raises(PictureError, match="no-such-backend"):
        picture.render_png(incident(), STOCKHOLM)


def test_a_stopping_worker_waits_for_no_picture() -> None:
    import threading

    stop = threading.Event()
    stop.set()  # SIGTERM came while the picture was being drawn: the process is killed
    with pytest.raises(PictureError, match="cut short: the worker is stopping"):
        picture.render_png(incident(), STOCKHOLM, stop=stop)
