"""The worker loop: take boards; for each, read its feed and handle it; remind; reconcile.

`Worker.cycle` is one pass. `Worker.run_once` is one full cycle (reconcile included);
`Worker.run_forever` runs cycles with APScheduler every `INCIDENT_POLL_SECONDS` and the lease
heartbeat on a thread of its own, so a long cycle never lets the leases run out; SIGTERM or
SIGINT lets the current step finish, gives the leases up, then the worker exits. Each
replica's scheduler is its own, in memory: the database is the only state replicas share.

What a step does lives in collaborators built here with their dependencies: `Boards` (which
boards this replica holds, read when first worked on), `Feed` (a board's actions, from its
feed or a webhook), `Handler` (read, decide, carry out, record), `Reconciler`, `Guard` (what
happens when a step fails) and `Leases`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from types import FrameType
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from worker.core import trello_json as tj
from worker.errors import DatabaseUnavailable, TrelloUnavailable
from worker.metrics import Metrics
from worker.metrics import Sources as MetricSources
from worker.report import draft
from worker.runtime.boards import TEMPLATE_CARDS_PER_CYCLE, Boards
from worker.runtime.courier import Courier
from worker.runtime.executor import Executor
from worker.runtime.feed import Feed
from worker.runtime.followups import FollowUps
from worker.runtime.guard import Guard
from worker.runtime.handler import Handler
from worker.runtime.inbox import Inbox
from worker.runtime.incident_board import IncidentBoard
from worker.runtime.keeper import Keeper
from worker.runtime.leases import Leases, units_of
from worker.runtime.outbound import Outbound
from worker.runtime.reconciler import Reconciler
from worker.runtime.template_cards import TemplateCards
from worker.runtime.template_file import TemplateFile
from worker.settings import Settings, build_policy
from worker.store.database import Store
from worker.template import Template
from worker.trello.client import Trello
from worker.web.overview import Sources as PageSources
from worker.web.overview import overview_server
from worker.web.webhooks import Refusals, webhook_server

logger = logging.getLogger(__name__)

#: The log line that says the worker has started and made its first pass over its boards.
READY = "ready: watching"
#: How often (seconds) the main thread wakes while it waits for a signal.
SIGNAL_LOOK = 0.5


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Parts:
    """The worker's collaborators, each built with what it needs."""

    leases: Leases
    boards: Boards
    guard: Guard
    template_cards: TemplateCards
    handler: Handler
    feed: Feed
    reconciler: Reconciler
    courier: Courier
    followups: FollowUps


def assemble(
    settings: Settings,
    trello: Trello,
    store: Store,
    template: Template,
    *,
    clock: Callable[[], datetime],
    monotonic: Callable[[], float],
    stop: threading.Event,
    metrics: Metrics | None = None,
) -> Parts:
    """Build the collaborators for one worker process."""
    if store.shared:  # replicas may be starting beside it: share Trello's budget from now
        trello.share_budget_through(store.budget.claim)
    board = settings.incident_board_id
    incident_board = IncidentBoard(trello, store, board, settings.incident_list) if board else None
    units = units_of(settings.watched_boards, together=incident_board is not None)
    leases = Leases(store, units, monotonic=monotonic)
    template_cards = TemplateCards(trello, store, template)
    keeper = Keeper(trello, store.identity.get, clock=clock)
    boards = Boards(
        trello,
        store,
        leases,
        template_cards,
        keeper,
        watched=settings.watched_boards,
        incident_label=settings.incident_label,
        clock=clock,
        monotonic=monotonic,
    )
    guard = Guard(leases, boards.name, settings.poll_seconds, monotonic)
    compose = partial(draft.compose, stop=stop)  # a stopping worker waits for no picture
    executor = Executor(trello, store, boards.template_card, compose, settings.channels)
    outbound = Outbound(store, settings.outbound_urls, settings.outbound_secret)
    handler = Handler(
        trello,
        store,
        executor,
        template_cards,
        incident_board,
        clock=clock,
        stop=stop,
        outbound=outbound,
        reacted=metrics.reacted if metrics is not None else None,
    )
    feed = Feed(trello, store, handler, clock=clock, stop=stop)
    followups = FollowUps(
        trello,
        store,
        executor,
        board_id=settings.followup_board_id,
        list_name=settings.followup_list,
        clock=clock,
        stop=stop,
    )
    reconciler = Reconciler(
        trello,
        store,
        boards,
        guard,
        feed,
        handler,
        template_cards,
        followups,
        clock=clock,
        stop=stop,
    )
    courier = Courier(store, executor, settings.channels, outbound=outbound)
    return Parts(
        leases, boards, guard, template_cards, handler, feed, reconciler, courier, followups
    )


class Worker:
    """Starts, runs a cycle, runs once or forever, and stops."""

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
        self.settings, self.trello, self.store, self.clock = settings, trello, store, clock
        self.monotonic = monotonic
        self.stop = threading.Event()
        self.template = TemplateFile(template)
        self.policy = build_policy(settings, template, worker_member_id="")
        self.metrics = Metrics()
        parts = assemble(
            settings,
            trello,
            store,
            template,
            clock=clock,
            monotonic=monotonic,
            stop=self.stop,
            metrics=self.metrics,
        )
        self.leases, self.boards, self.guard = parts.leases, parts.boards, parts.guard
        self.template_cards, self.handler = parts.template_cards, parts.handler
        self.feed, self.reconciler = parts.feed, parts.reconciler
        self.courier = parts.courier
        self.followups = parts.followups
        self.refusals = Refusals()  # webhook deliveries refused, and accepted
        self.metrics.read_from(
            MetricSources(
                trello=trello.session.tally.read,
                feed_lag=self._feed_lag,
                open_incidents=self._open_by_phase,
                reminders_sent=lambda: sum(store.claims.counted("remind-").values()),
                deliveries=lambda: {"accepted": self.refusals.accepted, **self.refusals.count},
                database_errors=lambda: self.leases.database_errors,
            )
        )
        self.reconciled_at: float | None = None
        self._wrote: set[str] = set()  # boards written to since their feed was read
        self._cycle_lock = threading.Lock()
        self._signalled = ""  # the signal that asked the worker to stop, once one did

    def start(self) -> None:
        """Who am I, and can I see every board (a wrong board id stops the worker here)."""
        if self.store.created:
            logger.warning(
                "the database is new: incidents on the boards are rebuilt from their cards at "
                "the first reconcile pass; what the cards do not show starts afresh"
            )
        if not self.store.shared:  # one worker per SQLite file: any lease there is a dead one's
            self.store.replicas.forget_all()
        me = tj.named(self.trello.me(), name_field="username")
        self.policy = build_policy(self.settings, self.template.template, me.id)
        logger.info(
            "worker is @%s, watching %d board(s), template v%s",
            me.name or "?",
            len(self.settings.watched_boards),
            self.template.template.version,
        )
        self.boards.learn_names()

    # -- one cycle ---------------------------------------------------------------------------

    def cycle(self, *, reconcile: bool | None = None) -> None:
        """One pass: each board's feed and reminders, then the reconcile pass when it is due.

        A board that fails is logged once (and again when it recovers) and skipped; the rest
        carry on. `reconcile` forces (True) or skips (False) the reconcile pass.
        """
        with self._cycle_lock:
            if self.guard.waiting():  # the key or token was refused: wait
                return
            self._take_up_template()
            self.boards.take_share()
            self.boards.read_ahead()
            self.feed.prefetch(self.boards.held())
            for board_id in self.leases.boards():
                if self.stop.is_set():
                    return
                if self.boards.replan_due(self.leases.seconds):
                    self.boards.take_share()  # a long cycle: hand over what others should have
                if self.leases.holds(board_id):
                    self.guard.run(board_id, partial(self._board_step, board_id))
            fresh = self.boards.take_fresh()  # a board taken up: compare its cards now
            due = fresh or (
                self.reconciled_at is None
                or self.monotonic() - self.reconciled_at >= self.settings.reconcile_seconds
            )
            if not self.stop.is_set() and (reconcile or (reconcile is None and due)):
                self._reconcile()
            self._make_template_cards()

    def _board_step(self, board_id: str) -> None:
        board, started = self.boards.take_up(board_id)
        writes = self.trello.session.writes
        self._wrote.discard(board.id)
        if started:
            self.feed.started(board)
        else:
            self.feed.poll(board, self.policy)
        self._remind(board)
        self.courier.run(board.id)
        if self.trello.session.writes != writes:
            self._wrote.add(board.id)  # the feed has our own actions to bring: see `_reconcile`

    def _reconcile(self) -> None:
        # The reconcile pass leaves alone a card changed after the feed's cursor (its event is
        # on the way); the worker's own writes of this cycle are read first, or a card it
        # writes to every cycle would never be compared.
        for board in self.boards.held():
            if board.id in self._wrote:
                self.guard.run(board.id, partial(self.feed.poll, board, self.policy))
        self._wrote.clear()
        try:
            self.reconciler.run(self.policy)
        except DatabaseUnavailable as exc:
            self.leases.unreachable(exc)
        except Exception:
            logger.exception("reconcile pass failed (will try again)")
        self.reconciled_at = self.monotonic()

    def _make_template_cards(self) -> None:
        """A few boards' template cards, made after the boards were read (a cold start on many
        boards watches them all before it has made their cards)."""
        for board_id in self.boards.unmade()[:TEMPLATE_CARDS_PER_CYCLE]:
            if self.stop.is_set():
                return
            self.guard.run(board_id, partial(self.boards.template_card, board_id))

    def _take_up_template(self) -> None:
        template = self.template.changed()
        if template is not None:
            self.policy = build_policy(self.settings, template, self.policy.worker_member_id)
            self.template_cards.use(template)

    def remind_all(self) -> None:
        """Due reminders on every board (its own job when webhooks slow the feed down)."""
        with self._cycle_lock:
            self.boards.take_share()
            for board in self.boards.held():
                if self.stop.is_set():
                    return
                self.guard.run(board.id, partial(self._remind, board))

    def _remind(self, board: tj.Board) -> None:
        self.handler.remind(board, self.policy)
        self.followups.remind(board.id, self.policy)

    def deliver(self, payload: dict[str, Any]) -> None:
        """A verified webhook delivery: its action, handled once (the feed may bring it too)."""
        raw = payload["action"]
        ref = tj.action_ref(raw)
        board = self.boards.get(ref.board_id) if ref is not None else None
        if ref is None or board is None:
            logger.debug("webhook: an action of a board this replica does not hold; skipped")
            return
        with self._cycle_lock:
            self.feed.deliver(board, ref, raw, self.policy, look=False)

    def deliveries_done(self) -> None:
        """No delivery waits: the cards that arrived meanwhile are looked at now, one request
        a board for any number of them (not one per delivery: a burst of new cards would
        queue that many reads ahead of the next label)."""
        with self._cycle_lock:
            for board in self.boards.held():
                self.feed.look_at_arrivals(board, self.policy)

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy when every board this replica holds had its feed read lately (`Feed.health`)."""
        return self.feed.health(self.boards.held(), self.settings.feed_seconds)

    def _feed_lag(self) -> dict[str, float]:
        now = self.clock()
        return {
            self.boards.name(board_id): (now - read).total_seconds()
            for board_id, read in self.feed.last_poll.items()
        }

    def _open_by_phase(self) -> dict[str, int]:
        return dict(Counter(i.phase.value for i in self.store.incidents.open()))

    def pages(self) -> PageSources:
        """What the overview pages are made from (`worker.web.overview`)."""
        return PageSources(
            store=self.store,
            policy=lambda: self.policy,
            history=self.trello.card_actions,
            board_name=self.boards.name,
            health=self.health,
            metrics=self.metrics,
            clock=self.clock,
        )

    def failing_boards(self) -> list[str]:
        """The boards taken whose last step failed, or that could not be read when taken."""
        return sorted(self.guard.failing)

    # -- running -----------------------------------------------------------------------------

    def run_once(self) -> None:
        self.start()
        try:
            self.cycle(reconcile=True)
            self._ready()
        finally:
            self.leases.leave()

    def _ready(self) -> None:
        logger.info("%s %s", READY, self.boards.watching())

    def start_patiently(self) -> bool:
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
            if self._stop_waited(self.settings.poll_seconds):
                return False

    def _stop_waited(self, seconds: float) -> bool:
        """Wait up to `seconds` (waking every `SIGNAL_LOOK`) for the stop flag, or a signal
        noted by `run_forever`'s handler (which is then made the stop flag); whether told to
        stop."""
        deadline = self.monotonic() + seconds
        while not self._signalled:
            left = deadline - self.monotonic()
            if left <= 0 or self.stop.wait(min(SIGNAL_LOOK, left)):
                return self.stop.is_set()
        self.stop.set()
        return True

    def run_forever(self) -> None:
        """Cycles every INCIDENT_POLL_SECONDS until SIGTERM/SIGINT; the current step finishes.

        The scheduler runs the cycles in its thread; this thread only waits for a signal. The
        handler only notes it (one assignment: no lock, no log line, no `Event.set`, which
        takes a lock that this very thread may hold when the handler runs in it); this thread,
        waking every `SIGNAL_LOOK` seconds, then sets the stop flag, so stopping never races
        the scheduler.
        """

        def stop(signum: int, _frame: FrameType | None) -> None:
            self._signalled = self._signalled or signal.Signals(signum).name

        previous = {which: signal.signal(which, stop) for which in (signal.SIGTERM, signal.SIGINT)}
        inbox = Inbox(self.deliver, idle=self.deliveries_done)
        receiver = webhook_server(self.settings, inbox.put, self.health, self.refusals)
        pages = overview_server(self.settings, self.pages())
        try:
            if pages is not None:
                pages.start()
            if receiver is not None:
                inbox.start()
                receiver.start()
            if self.start_patiently():
                self._schedule()
            else:
                self._stopping()
        finally:
            if receiver is not None:
                receiver.stop()
                inbox.close()
            if pages is not None:
                pages.stop()
            self.leases.leave()
            for which, handler in previous.items():
                signal.signal(which, handler)
            logger.info("stopped")

    def _stopping(self) -> None:
        if self._signalled:
            logger.info("%s received: stopping after the current step", self._signalled)

    def _schedule(self) -> None:
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1), "leases": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        # its own thread: a long cycle never lets this replica's leases run out
        every = self.leases.seconds / 3
        scheduler.add_job(
            self.leases.heartbeat,
            "interval",
            seconds=every,
            kwargs={"take": True},
            executor="leases",
        )
        scheduler.start()
        try:
            self.cycle()  # the first pass at once, reconcile included
            if self._stop_waited(0):
                self._stopping()
                return
            self._ready()
            scheduler.add_job(
                self.cycle, "interval", seconds=self.settings.feed_seconds, id="cycle"
            )
            if self.settings.webhook:
                interval = self.settings.poll_seconds
                scheduler.add_job(self.remind_all, "interval", seconds=interval, id="remind")
            while not self._stop_waited(SIGNAL_LOOK):
                pass
            self._stopping()
        finally:
            scheduler.shutdown(wait=True)  # the cycle in flight, if any, finishes first
