"""The overview pages: every incident at a glance, each one's timeline, insights, metrics.

Served by waitress on `INCIDENT_WEB_LISTEN` (off when unset), from Jinja2 templates as plain
HTML that refreshes itself (no JavaScript):

- `/`: the open incidents across every watched board, then those over in the last 30 days
  (`worker.web.views` decides what each row says);
- `/incidents/<card>`: the incident's timeline, metrics and picture: the post-mortem draft,
  composed from the card's history by the same code (`worker.report.draft`);
- `/insights` (`?since=YYYY-MM-DD`): the figures across incidents by template version, with
  pictures (`/insights/<chart>.png`); `incident-worker insights` writes the same page as files;
- `/metrics`: Prometheus' text format (`worker.metrics`);
- `/healthz`: as the webhook receiver's, and open to all.

Every page but `/healthz` asks for `INCIDENT_WEB_PASSWORD` by HTTP basic auth (any user name;
compared in constant time) when one is set; the settings require one beyond loopback. Pages
carry a content security policy that allows no script at all, and are never cached. People's
words (card names, comments) are escaped by the templates; the draft's Markdown is rendered
with raw HTML off.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markdown_it import MarkdownIt
from markupsafe import Markup
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from worker.core.model import Incident, Policy
from worker.errors import PictureError, TrelloError
from worker.metrics import Metrics
from worker.report import draft
from worker.report.charts import CHARTS, render_chart
from worker.report.insights import Insights, insights
from worker.report.picture import render_png
from worker.settings import Settings
from worker.store.database import Store
from worker.web import views
from worker.web.serving import HttpServer

logger = logging.getLogger(__name__)

#: How often the pages refresh themselves, in seconds.
REFRESH = 10
#: How long a card's history and a drawn picture are kept before they are read or drawn again.
KEPT = 30.0
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; form-action 'none'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")

Health = Callable[[], tuple[bool, dict[str, Any]]]


def environment() -> Environment:
    """The templates (`worker/web/templates`), HTML escaped."""
    return Environment(
        loader=PackageLoader("worker.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class Sources:
    """What the pages are made from; each part handed in by the worker."""

    store: Store
    policy: Callable[[], Policy]
    #: a card's history, oldest first (one request to Trello)
    history: Callable[[str], list[dict[str, Any]]]
    #: a board's name by id
    board_name: Callable[[str], str]
    health: Health
    metrics: Metrics | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class OverviewApp:
    """The WSGI application (see the module docstring)."""

    def __init__(self, sources: Sources, password: SecretStr | None = None):
        self.sources = sources
        self.password = password
        self.templates = environment()
        self.routes = Map(
            [
                Rule("/", endpoint="index"),
                Rule("/incidents/<card_id>", endpoint="incident"),
                Rule("/incidents/<card_id>/timeline.png", endpoint="timeline"),
                Rule("/insights", endpoint="insights"),
                Rule("/insights/<name>.png", endpoint="chart"),
                Rule("/metrics", endpoint="metrics"),
                Rule("/healthz", endpoint="health"),
            ],
            strict_slashes=False,
        )
        self._kept: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = self.respond(Request(environ))
        return response(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _text("GET only\n", 405)
        try:
            endpoint, values = self.routes.bind_to_environ(request.environ).match()
        except HTTPException:
            return self._secured(_text("not found\n", 404))
        if endpoint == "health":
            ok, detail = self.sources.health()
            polled = detail.get("last_poll") or {}
            return _json({"ok": ok, "boards": len(polled)}, 200 if ok else 503)
        if not self._allowed(request):
            answer = _text("the overview asks for INCIDENT_WEB_PASSWORD\n", 401)
            answer.headers["WWW-Authenticate"] = 'Basic realm="incident-worker", charset="UTF-8"'
            return self._secured(answer)
        try:
            response = getattr(self, f"_{endpoint}")(request, **values)
        except NotFound:
            response = self._page("base.html", page="", status=404)
        except (TrelloError, PictureError) as exc:
            logger.warning("overview: %s could not be shown: %s", request.path, exc)
            response = _text(f"Not available now: {exc}\n", 503)
        return self._secured(response)

    # -- the pages -------------------------------------------------------------------------

    def _index(self, request: Request) -> Response:
        now, policy = self.sources.clock(), self.sources.policy()
        incidents = self.sources.store.incidents.all()
        board = self.sources.board_name
        return self._page(
            "index.html",
            page="incidents",
            refresh=REFRESH,
            running=views.open_rows(incidents, now, policy, board),
            past=views.past_rows(incidents, now, policy, board),
            levels=bool(policy.template.levels),
        )

    def _incident(self, request: Request, card_id: str) -> Response:
        incident = self._incident_of(card_id)
        policy = self.sources.policy()
        history = self._history(card_id)
        text = draft.markdown(incident, history, policy, None)
        facts = [
            ("Board", self.sources.board_name(incident.board_id)),
            (
                "Phase",
                incident.phase.value + (f", {incident.ended.value}" if incident.ended else ""),
            ),
            ("Lead", _at(incident.lead)),
            ("Communicator", _at(incident.communicator)),
            ("Template", f"v{incident.template_version}"),
        ]
        if incident.severity is not None:
            facts.insert(1, ("Severity", f"{incident.severity} ({incident.severity_name})"))
        return self._page(
            "incident.html",
            page="incidents",
            refresh=REFRESH,
            name=incident.name,
            url=views.card_url(incident),
            facts=facts,
            picture=f"/incidents/{card_id}/timeline.png",
            draft=Markup(_MARKDOWN.render(text)),  # noqa: S704 (raw HTML is off in the parser)
        )

    def _timeline(self, request: Request, card_id: str) -> Response:
        incident = self._incident_of(card_id)
        policy = self.sources.policy()

        def draw() -> bytes:
            history = self._history(card_id)
            report = draft.report_of(incident, history, policy, None)
            return render_png(report, policy.timezone)

        return _png(self._kept_for(("timeline", card_id, incident.model_dump_json()), draw))

    def _insights(self, request: Request) -> Response:
        since = _since(request)
        query = f"?since={since.date().isoformat()}" if since else ""
        shown = insights_page(
            self._insights_since(since), lambda name: f"/insights/{name}.png{query}"
        )
        return self._page("insights.html", page="insights", **shown)

    def _chart(self, request: Request, name: str) -> Response:
        if name not in CHARTS:
            raise NotFound()
        found = self._insights_since(_since(request))
        key = ("chart", name, repr(found))
        return _png(self._kept_for(key, lambda: render_chart(name, found)))

    def _metrics(self, request: Request) -> Response:
        if self.sources.metrics is None:
            raise NotFound()
        return Response(
            self.sources.metrics.exposition(), mimetype=None, content_type=CONTENT_TYPE_LATEST
        )

    # -- helpers ------------------------------------------------------------------------------

    def _allowed(self, request: Request) -> bool:
        if self.password is None:
            return True
        given = request.headers.get("Authorization", "")
        scheme, _, encoded = given.partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        password = decoded.partition(b":")[2] if scheme.lower() == "basic" else b""
        return hmac.compare_digest(password, self.password.get_secret_value().encode())

    def _incident_of(self, card_id: str) -> Incident:
        incident = self.sources.store.incidents.get(card_id)
        if incident is None:
            raise NotFound()
        return incident

    def _history(self, card_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._kept_for(
            ("history", card_id), lambda: self.sources.history(card_id)
        )
        return found

    def _insights_since(self, since: datetime | None) -> Insights:
        store = self.sources.store
        return insights(
            store.incidents.all(),
            store.claims.counted("remind-"),
            self.sources.clock(),
            self.sources.policy().timezone,
            since,
        )

    def _kept_for(self, key: tuple[str, ...], make: Callable[[], Any]) -> Any:
        """`make()`, or what it gave for `key` less than `KEPT` seconds ago."""
        now = time.monotonic()
        with self._lock:
            found = self._kept.get(key)
            if found is not None and now - found[0] < KEPT:
                return found[1]
            self._kept = {k: v for k, v in self._kept.items() if now - v[0] < KEPT}
        made = make()
        with self._lock:
            self._kept[key] = (now, made)
        return made

    def _page(self, template: str, *, page: str, status: int = 200, **values: Any) -> Response:
        values.setdefault("refresh", 0)
        html = self.templates.get_template(template).render(
            root="/",
            page=page,
            generated=_local_now(self.sources.clock(), self.sources.policy()),
            **values,
        )
        return Response(html, status=status, mimetype="text/html")

    @staticmethod
    def _secured(response: Response) -> Response:
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response


def insights_page(found: Insights, chart_url: Callable[[str], str]) -> dict[str, Any]:
    """What the insights template shows of `found`; `chart_url` names each chart's picture."""
    versions, rows = views.insight_rows(found)
    return {
        "refresh": 0,
        "since": found.since.date().isoformat() if found.since else "",
        "every": found.every,
        "versions": versions,
        "rows": rows,
        "charts": CHARTS,
        "chart_url": chart_url,
        "duration": views.span,
    }


def write_insights(
    out: Path,
    found: Insights,
    *,
    generated: str,
    charts: Callable[[str, Insights], bytes] = render_chart,
) -> list[Path]:
    """The insights page and its pictures as files in `out` (made if missing); the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in CHARTS:
        path = out / f"{name}.png"
        path.write_bytes(charts(name, found))
        written.append(path)
    html = (
        environment()
        .get_template("insights.html")
        .render(
            root="./",
            page="insights",
            generated=generated,
            **insights_page(found, lambda name: f"{name}.png"),
        )
    )
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    return [index, *written]


def _since(request: Request) -> datetime | None:
    given = request.args.get("since", "").strip()
    if not given:
        return None
    try:
        return datetime.fromisoformat(given).replace(tzinfo=UTC)
    except ValueError:
        raise NotFound() from None


def _local_now(now: datetime, policy: Policy) -> str:
    return now.astimezone(policy.timezone).strftime("as of %a %d %b %H:%M:%S %Z")


def _at(username: str | None) -> str:
    return f"@{username}" if username else "-"


def _text(text: str, status: int) -> Response:
    return Response(text, status=status, mimetype="text/plain")


def _json(data: Mapping[str, Any], status: int) -> Response:
    return Response(json.dumps(data) + "\n", status=status, mimetype="application/json")


def _png(data: bytes) -> Response:
    return Response(data, mimetype="image/png")


def overview_server(settings: Settings, sources: Sources) -> HttpServer | None:
    """The pages the settings ask for (`INCIDENT_WEB_LISTEN`), not started; None when off."""
    if not settings.web_listen:
        return None
    app = OverviewApp(sources, settings.web_password)
    return HttpServer(app, settings.web_listen, name="overview")
