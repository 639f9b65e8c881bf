"""The worker loop: fetch -> parse -> decide -> execute -> record.

One cycle, for each watched board:

1. read the board's actions feed since the stored cursor (one request), and for each action in
   order: parse it, let the rules decide, carry out their actions, save the incident, move the
   cursor past it. A failure stops the board's cycle there; the next cycle starts again from the
   cursor, and every action is safe to repeat (see `worker.runtime.executor`);
2. every `INCIDENT_RECONCILE_SECONDS` (and at start), read the board's open cards (one request)
   and compare each labelled card with what it should have: declare the ones no event told us
   about, repair what a missed event or a crash left behind;
3. post the reminders that are due (no request unless one is).

Each cycle starts by taking this replica's share of the boards (`worker.runtime.leases`): with one
worker that is every board; with several replicas on one database, each board is worked on by
one of them at a time. A board is read (lists, labels, members; its template card and cursor
checked) when this replica takes it.

`Worker.run_forever` runs cycles with APScheduler every `INCIDENT_POLL_SECONDS`, and the lease
heartbeat on a thread of its own, so a long cycle never lets the leases run out; SIGTERM or
SIGINT lets the current step finish, gives the leases up, then the worker exits.
`Worker.run_once` is one full cycle. Each replica's scheduler is its own, in memory: the
database is the only state replicas share.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from worker.core import rules
from worker.core.model import Action, Config
from worker.core.trello_json import Event, LabelAdded, UnexpectedAction, parse_action
from worker.errors import AuthError, DatabaseUnavailable, TrelloError, TrelloUnavailable
from worker.runtime.executor import Executor
from worker.runtime.incident_board import IncidentBoard
from worker.runtime.leases import Leases, units_of
from worker.runtime.reconciler import NOT_FROM_SOURCE, Reconciling
from worker.runtime.template_cards import TemplateCards
from worker.settings import Settings
from worker.store.database import Store
from worker.template import Template, TemplateError, load_template
from worker.trello.client import Json, Trello
from worker.web.webhooks import WebhookApp, WebhookServer

logger = logging.getLogger(__name__)

#: The log line that says the worker has started and made its first pass over its boards.
READY = "ready: watching"
DEFAULT_REMINDER_SECONDS = 900.0
DEFAULT_STATUS_UPDATE_SECONDS = 1800.0
DEFAULT_ROLE_REMINDER_SECONDS = 300.0


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Board:
    """What the worker knows of a watched board, read at start."""

    id: str
    name: str
    lists: dict[str, str] = field(default_factory=dict)  # id -> name
    labels: dict[str, str] = field(default_factory=dict)  # casefolded name -> id
    members: dict[str, str] = field(default_factory=dict)  # username -> id
    failing: bool = False


def config_from(settings: Settings, template: Template, worker_member_id: str) -> Config:
    cadence = template.cadence
    return Config(
        template=template,
        worker_member_id=worker_member_id,
        incident_label=settings.incident_label,
        workaround_label=settings.workaround_label,
        resolved_label=settings.resolved_label,
        resolved_lists=frozenset(name.casefold() for name in settings.resolved_lists),
        reminder_seconds=settings.reminder_seconds
        or cadence.reminder_seconds
        or DEFAULT_REMINDER_SECONDS,
        status_update_seconds=settings.status_update_seconds
        or cadence.status_update_seconds
        or DEFAULT_STATUS_UPDATE_SECONDS,
        role_reminder_seconds=settings.role_reminder_seconds
        or cadence.role_reminder_seconds
        or DEFAULT_ROLE_REMINDER_SECONDS,
        meeting_url=settings.meeting_url,
        postmortem_days=settings.postmortem_days,
        timezone=settings.tz,
        postmortem_attendees=tuple(settings.postmortem_attendees),
        postmortem_facilitator=settings.postmortem_facilitator,
        template_url=settings.template_url,
        incident_board_id=settings.incident_board_id,
    )


class Worker(Reconciling):
    def __init__(
        self,
        settings: Settings,
        trello: Trello,
        store: Store,
        template: Template,
        *,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.trello = trello
        self.store = store
        self.template = template
        self.clock = clock
        self.monotonic = monotonic
        #: the boards this replica has taken and read, by id (see `held`)
        self.boards: dict[str, Board] = {}
        self.board_names: dict[str, str] = {}
        self.unread: set[str] = set()  # taken, but reading them failed: tried again each cycle
        self._planned_at = 0.0
        self._wrote: set[str] = set()  # boards the worker wrote to since their feed was read
        self.stopping = False
        self._cycle_lock = threading.Lock()
        self.template_cards = TemplateCards(trello, store, template)
        self.incident_board = (
            IncidentBoard(trello, store, settings.incident_board_id, settings.incident_list)
            if settings.incident_board_id
            else None
        )
        self.reconciled_at: float | None = None
        self.last_poll: dict[str, datetime] = {}
        self._refused_since: float | None = None
        self._retry_at = 0.0
        self._template_stamp = _stamp(Path(template.path))
        self.config = config_from(settings, template, worker_member_id="")
        self.executor = Executor(trello, store, self.config, self.template_cards.get, self._members)
        self.leases = Leases(
            store,
            units_of(settings.watched_boards, together=self.incident_board is not None),
            settings.lease_seconds,
            monotonic=monotonic,
        )

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        """Who am I, and can I see every board (a wrong board id stops the worker here)."""
        if self.store.created:
            logger.warning(
                "the database is new: incidents on the boards are rebuilt from their cards at "
                "the first reconcile pass; what the cards do not show starts afresh"
            )
        if not self.store.shared:  # one worker per SQLite file: any lease there is a dead one's
            self.store.forget_replicas()
        me = self.trello.me()
        self.config = config_from(self.settings, self.template, worker_member_id=me["id"])
        self.executor.config = self.config
        logger.info(
            "worker is @%s, watching %d board(s), template v%s",
            me.get("username", "?"),
            len(self.settings.watched_boards),
            self.template.version,
        )
        for board_id in self.settings.watched_boards:
            self.board_names[board_id] = str(self.trello.board(board_id).get("name", board_id))

    def take_share(self) -> None:
        """Take this replica's share of the boards and give up the rest (`worker.runtime.leases`).

        Boards are read when their turn in the cycle comes (`ready_board`), and the boards
        already read are the last to be given up, so replicas starting together hand boards
        to each other before spending requests on them.
        """
        try:
            taken, given = self.leases.rebalance(settled=self.boards.keys())
        except DatabaseUnavailable as exc:
            self.leases.unreachable(exc)  # its leases run out by themselves
            return
        finally:
            self._planned_at = self.monotonic()
        self.trello.share_budget(self.leases.replicas)
        for board_id in given:
            self.boards.pop(board_id, None)
            name = self.board_names.get(board_id, board_id)
            logger.info("board %r given up for another replica to take", name)
        for board_id in taken:
            self.boards.pop(board_id, None)  # read afresh: it may have changed meanwhile
            logger.info("holding board %r", self.board_names.get(board_id, board_id))

    def ready_board(self, board_id: str) -> Board | None:
        """The board, read when first worked on: lists, labels, members, template card, cursor.

        None when it cannot be read now (said once; tried again next cycle).
        """
        if board_id in self.boards:
            return self.boards[board_id]
        try:
            board = self._load_board(board_id)
            self.template_cards.get(board.id)
            if self.store.cursor(board.id) is None:
                self._start_cursor(board)
        except AuthError as exc:
            self._refused(exc)
            return None
        except DatabaseUnavailable as exc:
            self.leases.unreachable(exc)
            return None
        except TrelloError as exc:
            if board_id not in self.unread:
                name = self.board_names.get(board_id, board_id)
                logger.warning("board %s: %s (will keep trying)", name, exc)
            self.unread.add(board_id)
            return None
        self.unread.discard(board_id)
        self.boards[board.id] = board
        return board

    def failing_boards(self) -> list[str]:
        """The boards taken whose last step failed, or that could not be read when taken."""
        return sorted({b.id for b in self.boards.values() if b.failing} | self.unread)

    def _load_board(self, board_id: str) -> Board:
        found = self.trello.board(board_id)
        board = Board(id=found["id"], name=found.get("name", board_id))
        self.board_names[board_id] = board.name
        board.lists = {item["id"]: item["name"] for item in self.trello.lists(board.id)}
        board.labels = {
            item["name"].casefold(): item["id"]
            for item in self.trello.labels(board.id)
            if item.get("name")
        }
        board.members = {m["username"]: m["id"] for m in self.trello.board_members(board.id)}
        for label in (self.settings.incident_label,):
            if label.casefold() not in board.labels:
                logger.warning(
                    "board %r has no label %r (INCIDENT_LABEL): nothing can be declared there "
                    "until someone creates it",
                    board.name,
                    label,
                )
        return board

    def _start_cursor(self, board: Board) -> None:
        """A new board starts from now: its history is not replayed (reconcile finds incidents)."""
        newest = self.trello.latest_action(board.id)
        if newest is not None:
            self.store.set_cursor(board.id, newest["id"], newest["date"])
        else:
            self.store.set_cursor(board.id, "", self.clock().isoformat())

    def _members(self, board_id: str) -> Mapping[str, str]:
        return self.boards[board_id].members

    # -- one cycle ---------------------------------------------------------------------------

    def run_once(self) -> None:
        self.start()
        try:
            self.cycle(reconcile=True)
            self._ready()
        finally:
            self.leases.leave()

    def _ready(self) -> None:
        names = ", ".join(repr(board.name) for board in self.held)
        if not names:
            names = "no board yet (" + (
                "the boards taken cannot be read yet)"
                if self.leases.boards()
                else "other replicas hold them all)"
            )
        logger.info("%s %s", READY, names)

    def reload_template(self) -> None:
        """Take up an edited template file; a broken edit is reported and the old one kept."""
        path = Path(self.template.path)
        stamp = _stamp(path)
        if stamp == self._template_stamp:
            return
        self._template_stamp = stamp
        try:
            template = load_template(path)
        except TemplateError as exc:
            logger.error("%s Still using template v%s.", exc, self.template.version)
            return
        if template.version == self.template.version:
            return
        logger.info(
            "template changed (v%s -> v%s): new incidents get the new checklists",
            self.template.version,
            template.version,
        )
        self.template = template
        self.config = config_from(self.settings, template, self.config.worker_member_id)
        self.executor.config = self.config
        self.template_cards.use(template)

    def cycle(self, *, reconcile: bool | None = None) -> None:
        """One pass: each board's feed and reminders, then the reconcile pass when it is due.

        A board that fails is logged once (and again when it recovers) and skipped; the rest
        carry on. `reconcile` forces (True) or skips (False) the reconcile pass.
        """
        with self._cycle_lock:
            if self.monotonic() < self._retry_at:  # the key or token was refused: wait
                return
            self.reload_template()
            self.take_share()
            for board_id in self.leases.boards():
                if self.stopping:
                    return
                if self.monotonic() - self._planned_at >= self.settings.lease_seconds / 3:
                    self.take_share()  # a long cycle: hand over what others should have now
                board = self.ready_board(board_id) if self.leases.holds(board_id) else None
                if board is not None:
                    self._guarded(board, self._board_cycle)
            due = self.reconciled_at is None or (
                self.monotonic() - self.reconciled_at >= self.settings.reconcile_seconds
            )
            if not self.stopping and (reconcile or (reconcile is None and due)):
                # The reconcile pass leaves alone a card changed after the feed's cursor (its
                # event is on the way); the worker's own writes of this cycle are read first,
                # or a card it writes to every cycle would never be compared.
                for board in self.held:
                    if board.id in self._wrote:
                        self._guarded(board, self.poll)
                self._wrote.clear()
                try:
                    self.reconcile()
                except DatabaseUnavailable as exc:
                    self.leases.unreachable(exc)
                except Exception:
                    logger.exception("reconcile pass failed (will try again)")
                self.reconciled_at = self.monotonic()

    def _guarded(self, board: Board, step: Callable[[Board], None]) -> None:
        if not self.leases.holds(board.id):  # its lease ran out meanwhile
            return
        try:
            step(board)
        except AuthError as exc:
            self._refused(exc)
            board.failing = True
            return
        except DatabaseUnavailable as exc:  # one database: said once, not once a board
            self.leases.unreachable(exc)
            return
        except TrelloError as exc:
            if not board.failing:
                logger.warning("board %s: %s (will keep trying)", board.name, exc)
            board.failing = True
            return
        except Exception:
            logger.exception("board %s: unexpected error (will keep trying)", board.name)
            return
        if self._refused_since is not None:
            logger.info("Trello accepts the key and token again")
            self._refused_since, self._retry_at = None, 0.0
        if board.failing:
            logger.info("board %s: Trello answers again", board.name)
        board.failing = False

    def _refused(self, exc: AuthError) -> None:
        """A refused key or token: said once, then tried again less and less often (to 5 min)."""
        now = self.monotonic()
        if self._refused_since is None:
            self._refused_since = now
            logger.error("%s; the worker keeps trying, less often, until they work again", exc)
        waited = now - self._refused_since
        delay = min(300.0, max(self.settings.poll_seconds, waited))
        self._retry_at = now + delay

    def _board_cycle(self, board: Board) -> None:
        writes = self.trello.session.writes
        self._wrote.discard(board.id)
        self.poll(board)
        self.remind(board)
        if self.trello.session.writes != writes:
            self._wrote.add(board.id)  # the feed has our own actions to bring: see `cycle`

    def poll(self, board: Board) -> None:
        cursor = self.store.cursor(board.id)
        since = (cursor[0] or cursor[1]) if cursor else None
        for raw in self.trello.board_actions(board.id, since=since):
            if self.stopping:
                return
            action_id, date = raw.get("id"), raw.get("date")
            if not isinstance(action_id, str) or not isinstance(date, str):
                logger.warning("board %s: skipping an action without an id or date", board.name)
                continue
            if not self.store.was_handled(action_id):
                self.handle(board, raw)
                self.store.mark_handled(action_id)
            self.store.set_cursor(board.id, action_id, date)
        self.last_poll[board.id] = self.clock()

    def deliver(self, payload: dict[str, Any]) -> None:
        """A verified webhook delivery: its action, handled once (the feed may bring it too)."""
        raw = payload["action"]
        board_id = (raw.get("data", {}).get("board") or {}).get("id", "")
        board = self.boards.get(board_id)
        if board is None or "id" not in raw or not self.leases.holds(board_id):
            logger.debug("webhook: an action of a board this replica does not hold; skipped")
            return
        with self._cycle_lock:
            if self.store.was_handled(raw["id"]):
                return
            try:
                self.handle(board, raw)
            except TrelloError as exc:  # the feed brings it again
                logger.warning("webhook: action %s not handled now (%s)", raw["id"], exc)
                return
            self.store.mark_handled(raw["id"])

    @property
    def feed_interval(self) -> float:
        """How often the feed is read: slower when webhooks bring the actions."""
        if self.settings.webhook:
            return self.settings.webhook_poll_seconds
        return self.settings.poll_seconds

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy when every board this replica holds had its feed read within three intervals.

        A replica that holds no board (more replicas than boards) is healthy: it stands by.
        """
        now = self.clock()
        polled = {board.id: self.last_poll.get(board.id) for board in self.held}
        ok = all(
            when is not None and (now - when).total_seconds() <= 3 * self.feed_interval
            for when in polled.values()
        )
        boards = {board_id: when.isoformat() if when else None for board_id, when in polled.items()}
        return ok, {"ok": ok, "last_poll": boards}

    def remind_all(self) -> None:
        """Due reminders on every board (its own job when webhooks slow the feed down)."""
        with self._cycle_lock:
            self.take_share()
            for board in self.held:
                if self.stopping:
                    return
                self._guarded(board, self.remind)

    def handle(self, board: Board, raw: Json) -> None:
        try:
            event = parse_action(raw)
        except UnexpectedAction as exc:
            logger.warning("board %s: skipping an action I cannot read: %s", board.name, exc)
            return
        if event is None or event.card_id == self.template_cards.card_id(board.id):
            return
        incident = self.store.incident(event.card_id)
        if incident is None and self.incident_board is not None:
            linked = self.incident_board.linked_card(event.card_id)
            incident = self.store.incident(linked) if linked else None
            if incident is not None and isinstance(event, NOT_FROM_SOURCE):
                return  # the source card's own life does not concern the incident card
        if (incident is None or not incident.open) and self._declares_elsewhere(board, event):
            self.declare_from_event(board, event)
            return
        new, actions = rules.on_event(incident, event, self.config, board.members)
        if new is None or (new == incident and not actions):
            return
        if incident is None or not incident.open:
            logger.info("card %s: incident declared by @%s", new.card_id, event.username)
        new = self.executor.run(new, actions)
        self.store.save(new)

    def _declares_elsewhere(self, board: Board, event: Event) -> bool:
        return (
            self.runs_elsewhere(board.id)
            and isinstance(event, LabelAdded)
            and event.label.casefold() == self.settings.incident_label.casefold()
        )

    def remind(self, board: Board) -> None:
        now = self.clock()
        for incident in self.store.open_incidents(board.id):
            for comment in rules.due_reminders(incident, now, self.config):
                if self.stopping:
                    return
                self.executor.comment(incident, comment)

    # -- running -----------------------------------------------------------------------------

    def start_patiently(self, wait: Callable[[float], bool]) -> bool:
        """`start`, tried again while Trello is unavailable; False if told to stop meanwhile.

        Wrong credentials or board ids are not worth waiting for: those errors go up.
        """
        failing = False
        while True:
            try:
                self.start()
                if failing:
                    logger.info("Trello answers again; starting")
                return True
            except TrelloUnavailable as exc:
                if not failing:
                    logger.warning("cannot start yet: %s (will keep trying)", exc)
                failing = True
            if wait(self.settings.poll_seconds):
                return False

    def run_forever(self) -> None:
        """Cycles every INCIDENT_POLL_SECONDS until SIGTERM/SIGINT; the current step finishes.

        The scheduler runs the cycles in its thread; this thread only waits for a signal, and
        the signal handler only raises flags, so stopping never races the scheduler.
        """
        stopped = threading.Event()

        def stop(signum: int, _frame: FrameType | None) -> None:
            if not self.stopping:
                name = signal.Signals(signum).name
                logger.info("%s received: stopping after the current step", name)
            self.stopping = True
            stopped.set()

        previous: dict[signal.Signals, Any] = {}
        for which in (signal.SIGTERM, signal.SIGINT):
            previous[which] = signal.signal(which, stop)
        receiver = self._webhook_server() if self.settings.webhook else None
        try:
            if receiver is not None:
                receiver.start()
            if not self.start_patiently(stopped.wait):
                return
            scheduler = BackgroundScheduler(
                executors={"default": ThreadPoolExecutor(1), "leases": ThreadPoolExecutor(1)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
                timezone=UTC,
            )
            # its own thread: a long cycle never lets this replica's leases run out
            scheduler.add_job(
                self.leases.heartbeat,
                "interval",
                seconds=self.settings.lease_seconds / 3,
                kwargs={"take": True},
                id="heartbeat",
                executor="leases",
            )
            scheduler.start()
            self.cycle()  # the first pass at once, reconcile included
            if self.stopping:
                scheduler.shutdown(wait=True)
                return
            self._ready()
            scheduler.add_job(self.cycle, "interval", seconds=self.feed_interval, id="cycle")
            if self.settings.webhook:
                scheduler.add_job(
                    self.remind_all, "interval", seconds=self.settings.poll_seconds, id="remind"
                )
            stopped.wait()
            scheduler.shutdown(wait=True)  # the cycle in flight, if any, finishes first
        finally:
            self.leases.leave()
            if receiver is not None:
                receiver.stop()
            for which, handler in previous.items():
                signal.signal(which, handler)
            logger.info("stopped")

    def _webhook_server(self) -> WebhookServer:
        secret, callback = self.settings.trello_app_secret, self.settings.webhook_callback_url
        assert secret is not None and callback is not None  # the settings require them
        app = WebhookApp(callback, secret, self.deliver, self.health)
        return WebhookServer(app, self.settings.webhook_listen)


def _stamp(path: Path) -> tuple[int, int] | None:
    """When and how big the file last was: cheap to ask every cycle."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


def _merge(actions: list[Action]) -> list[Action]:
    """`actions` without repeats (a replay may ask for the same header refresh many times)."""
    return list(dict.fromkeys(actions))
