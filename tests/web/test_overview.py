"""The overview pages as a WSGI app over a real SQLite store: what each page shows, the
password, the headers, `/metrics` read back by prometheus-client's own parser."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from werkzeug.test import Client

from tests.factories import a_policy, an_incident
from worker.core.model import Ended, Phase
from worker.metrics import Metrics
from worker.metrics import Sources as MetricSources
from worker.store.database import Store
from worker.template import Moment
from worker.web.overview import OverviewApp, Sources, write_insights

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
POLICY = a_policy()
HOSTILE = "<script>alert(1)</script> **Checkout** is down"


def label(at: datetime) -> dict[str, Any]:
    return {
        "id": f"a{int(at.timestamp())}",
        "type": "addLabelToCard",
        "date": at.isoformat().replace("+00:00", "Z"),
        "idMemberCreator": "m1",
        "memberCreator": {"id": "m1", "username": "alice"},
        "data": {
            "card": {"id": "c1", "name": HOSTILE, "idShort": 1, "shortLink": "abc"},
            "board": {"id": "b1", "name": "Ops"},
            "label": {"id": "l1", "name": "Incident", "color": "red"},
            "text": "Incident",
            "value": "red",
        },
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path}/w.sqlite3")
    running = an_incident(
        POLICY,
        NOW - timedelta(minutes=30),
        name=HOSTILE,
        short_link="abc",
        lead="alice",
        communicated={Moment.DETECTION: NOW - timedelta(minutes=20)},
    )
    opened.incidents.save(running)
    over = an_incident(
        POLICY,
        NOW - timedelta(days=3),
        card_id="c2",
        name="Search is slow",
        short_link="def",
        phase=Phase.RESOLVED,
        phase_started={Phase.RESOLVED: NOW - timedelta(days=3) + timedelta(hours=2)},
        ended=Ended.ARCHIVED,
        ended_at=NOW - timedelta(days=2),
    )
    opened.incidents.save(over)
    try:
        yield opened
    finally:
        opened.close()


def app(store: Store, password: str | None = None, metrics: Metrics | None = None) -> Client:
    sources = Sources(
        store=store,
        policy=lambda: POLICY,
        history=lambda card_id: [label(NOW - timedelta(minutes=30))],
        board_name=lambda board_id: {"b1": "Ops <board>"}.get(board_id, board_id),
        health=lambda: (True, {"ok": True, "last_poll": {"b1": NOW}}),
        metrics=metrics,
        clock=lambda: NOW,
    )
    return Client(OverviewApp(sources, SecretStr(password) if password else None))


def test_the_open_and_the_recent_incidents_with_peoples_words_escaped(store: Store) -> None:
    page = app(store).get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="10">' in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="https://trello.com/c/abc"' in html and "Ops &lt;board&gt;" in html
    assert "noticed: told Fri 04 Dec 11:40" in html  # the policy's time zone is UTC
    assert "workaround: not yet due" in html
    assert "@alice" in html and "30 min" in html
    assert 'id="past"' in html and "Search is slow" in html and "archived" in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["Cache-Control"] == "no-store"


def test_an_incidents_page_is_the_draft_with_its_picture(store: Store) -> None:
    client = app(store)
    page = client.get("/incidents/c1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Post mortem: " in html and "<script>alert" not in html
    assert 'src="/incidents/c1/timeline.png"' in html
    picture = client.get("/incidents/c1/timeline.png")
    assert picture.status_code == 200 and picture.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert client.get("/incidents/nope").status_code == 404


def test_a_password_is_asked_for_and_compared_whole(store: Store) -> None:
    client = app(store, password="open sesame")

    def basic(secret: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"anyone:{secret}".encode()).decode()}

    refused = client.get("/")
    assert refused.status_code == 401 and "Basic" in refused.headers["WWW-Authenticate"]
    assert "open sesame" not in refused.get_data(as_text=True)
    for wrong in ("open", "open sesame!", "", "Open Sesame"):
        assert client.get("/", headers=basic(wrong)).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic %%%"}).status_code == 401
    assert client.get("/", headers=basic("open sesame")).status_code == 200
    assert client.get("/metrics", headers=basic("wrong")).status_code == 401
    assert client.get("/healthz").status_code == 200  # open to all
    assert client.post("/", headers=basic("open sesame")).status_code == 405


def test_metrics_parse_as_prometheus_and_count_what_happened(store: Store) -> None:
    metrics = Metrics()
    metrics.reacted(2.5)
    metrics.read_from(
        MetricSources(
            trello=lambda: ({200: 40, 429: 2}, 3),
            feed_lag=lambda: {"Ops": 4.0},
            open_incidents=lambda: {"investigating": 1},
            reminders_sent=lambda: 5,
            deliveries=lambda: {"accepted": 7, "deliveries with no signature": 1},
            database_errors=lambda: 0,
        )
    )
    text = app(store, metrics=metrics).get("/metrics").get_data(as_text=True)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("incident_worker_trello_responses_total", (("status", "429"),))] == 2
    assert samples[("incident_worker_trello_rate_limited_total", ())] == 2
    assert samples[("incident_worker_trello_retries_total", ())] == 3
    assert samples[("incident_worker_feed_lag_seconds", (("board", "Ops"),))] == 4.0
    assert samples[("incident_worker_open_incidents", (("phase", "investigating"),))] == 1
    assert samples[("incident_worker_reminders_sent_total", ())] == 5
    assert samples[("incident_worker_webhook_deliveries_total", (("outcome", "accepted"),))] == 7
    assert samples[("incident_worker_reaction_seconds_count", ())] == 1
    assert samples[("incident_worker_reaction_seconds_bucket", (("le", "3.0"),))] == 1
    assert samples[("incident_worker_reaction_seconds_bucket", (("le", "2.0"),))] == 0
    assert samples[("incident_worker_database_errors_total", ())] == 0


def test_insights_page_and_its_pictures(store: Store, tmp_path: Path) -> None:
    client = app(store)
    html = client.get("/insights").get_data(as_text=True)
    assert "2 incidents" in html and 'id="versions"' in html
    assert f"<th>v{POLICY.template.version}</th>" in html
    assert 'src="/insights/per-month.png"' in html
    chart = client.get("/insights/per-month.png")
    assert chart.status_code == 200 and chart.data.startswith(b"\x89PNG")
    assert client.get("/insights/nope.png").status_code == 404
    later = client.get("/insights?since=2026-12-03").get_data(as_text=True)
    assert "1 incidents since 2026-12-03" in later
    assert 'src="/insights/times.png?since=2026-12-03"' in later
    assert client.get("/insights?since=yesterday").status_code == 404

    written = write_insights(
        tmp_path / "out",
        app_insights(store),
        generated="now",
        charts=lambda name, found: b"\x89PNG " + name.encode(),
    )
    assert sorted(p.name for p in written) == [
        "audiences.png",
        "index.html",
        "per-month.png",
        "times.png",
        "versions.png",
    ]
    assert 'src="per-month.png"' in (tmp_path / "out" / "index.html").read_text()


def app_insights(store: Store) -> Any:
    from worker.report.insights import insights

    return insights(store.incidents.all(), {}, NOW, POLICY.timezone)


@pytest.mark.parametrize(
    ("declared_ago", "update", "shown"),
    [
        (timedelta(minutes=5), {}, ("to tell", "to tell (due 5 min ago)")),  # not reminded yet
        (timedelta(minutes=30), {}, ("overdue", "overdue by 30 min")),  # reminded (15 min)
        (
            timedelta(minutes=30),
            {"communicated": {Moment.DETECTION: NOW - timedelta(minutes=25)}},
            ("told", "told Fri 04 Dec 11:35"),
        ),
    ],
)
def test_each_message_is_told_to_tell_or_overdue(
    declared_ago: timedelta, update: dict[str, object], shown: tuple[str, str]
) -> None:
    from worker.web.views import open_rows

    incident = an_incident(POLICY, NOW - declared_ago, **update)
    (row,) = open_rows([incident], NOW, POLICY, str)
    noticed = row.told[0]
    assert (noticed.moment, noticed.state, noticed.text) == ("noticed", *shown)
    assert [t.state for t in row.told[1:]] == ["not yet due", "not yet due"]
