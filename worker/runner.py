"""The worker loop: fetch -> parse -> decide -> execute -> record.

One cycle, for each watched board:

1. read the board's actions feed since the stored cursor (one request), and for each action in
   order: parse it, let the rules decide, carry out their actions, save the incident, move the
   cursor past it. A failure stops the board's cycle there; the next cycle starts again from the
   cursor, and every action is safe to repeat (see `worker.executor`);
2. every `INCIDENT_RECONCILE_SECONDS` (and at start), read the board's open cards (one request)
   and compare each labelled card with what it should have: declare the ones no event told us
   about, repair what a missed event or a crash left behind;
3. post the reminders that are due (no request unless one is).

`Worker.run_forever` runs cycles with APScheduler every `INCIDENT_POLL_SECONDS`; SIGTERM or
SIGINT lets the current step finish, then the worker exits. `Worker.run_once` is one full cycle.
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

from worker import rules
from worker.errors import NotFoundError, TrelloError, TrelloUnavailable
from worker.events import UnexpectedAction, parse_action
from worker.executor import Executor, comm_items_on_card, item_states
from worker.model import Action, CardView, Config, Ended, Incident
from worker.settings import Settings
from worker.store import Store, TemplateCard
from worker.template import Template, TemplateError, load_template
from worker.trello import Json, Trello

logger = logging.getLogger(__name__)

TEMPLATE_CARD_NAME = "Incident template v{version} (kept by incident-worker; do not edit)"
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
    reconciled_at: float | None = None
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
    )


class Worker:
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
        self.boards: dict[str, Board] = {}
        self.stopping = False
        self._cycle_lock = threading.Lock()
        self._template_cards: dict[str, TemplateCard] = {}
        self._template_stamp = _stamp(Path(template.path))
        self.config = config_from(settings, template, worker_member_id="")
        self.executor = Executor(trello, store, self.config, self._template_card, self._members)

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        """Who am I, what do the boards look like, and is each board's template card current."""
        me = self.trello.me()
        self.config = config_from(self.settings, self.template, worker_member_id=me["id"])
        self.executor.config = self.config
        logger.info(
            "worker is @%s, watching %d board(s), template v%s",
            me.get("username", "?"),
            len(self.settings.trello_board_ids),
            self.template.version,
        )
        for board_id in self.settings.trello_board_ids:
            board = self._load_board(board_id)
            self.boards[board.id] = board
            self._template_card(board.id)
            if self.store.cursor(board.id) is None:
                self._start_cursor(board)

    def _load_board(self, board_id: str) -> Board:
        found = self.trello.board(board_id)
        board = Board(id=found["id"], name=found.get("name", board_id))
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

    def _template_card(self, board_id: str) -> TemplateCard:
        """The board's template card for the current template, made when missing or stale."""
        if board_id in self._template_cards:
            return self._template_cards[board_id]
        saved = self.store.template_card(board_id)
        if saved is not None and saved.version == self.template.version:
            try:
                card = self.trello.card(saved.card_id)
                present = {checklist["id"] for checklist in card.get("checklists", [])}
                if set(saved.checklists.values()) <= present:
                    self._template_cards[board_id] = saved
                    return saved
            except NotFoundError:
                pass
        made = self._make_template_card(board_id)
        self._template_cards[board_id] = made
        return made

    def _make_template_card(self, board_id: str) -> TemplateCard:
        lists = self.trello.lists(board_id)
        if not lists:
            raise TrelloError(f"Board {board_id} has no open list to keep the template card in.")
        name = TEMPLATE_CARD_NAME.format(version=self.template.version)
        card = self.trello.create_card(
            lists[0]["id"],
            name,
            desc=f"The checklists of {self.template.path}, copied onto each incident card.",
        )
        checklists: dict[str, str] = {}
        for checklist in self.template.checklists:
            made = self.trello.create_checklist(card["id"], checklist.name)
            for item in checklist.items:
                self.trello.add_check_item(made["id"], item.name)
            checklists[checklist.name] = made["id"]
        self.trello.archive_card(card["id"])
        saved = TemplateCard(board_id, self.template.version, card["id"], checklists)
        self.store.save_template_card(saved)
        logger.info("board %s: template card v%s made", board_id, self.template.version)
        return saved

    # -- one cycle ---------------------------------------------------------------------------

    def run_once(self) -> None:
        self.start()
        self.cycle(reconcile=True)

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
        self._template_cards.clear()

    def cycle(self, *, reconcile: bool | None = None) -> None:
        """One pass over every board; a board that fails is logged once and skipped."""
        with self._cycle_lock:
            self.reload_template()
            for board in self.boards.values():
                if self.stopping:
                    return
                try:
                    self._board_cycle(board, reconcile)
                except TrelloError as exc:
                    if not board.failing:
                        logger.warning("board %s: %s (will keep trying)", board.name, exc)
                    board.failing = True
                    continue
                except Exception:
                    logger.exception("board %s: unexpected error (will keep trying)", board.name)
                    continue
                if board.failing:
                    logger.info("board %s: Trello answers again", board.name)
                board.failing = False

    def _board_cycle(self, board: Board, reconcile: bool | None) -> None:
        self.poll(board)
        due = board.reconciled_at is None or (
            self.monotonic() - board.reconciled_at >= self.settings.reconcile_seconds
        )
        if reconcile or (reconcile is None and due):
            self.reconcile(board)
            board.reconciled_at = self.monotonic()
        self.remind(board)

    def poll(self, board: Board) -> None:
        cursor = self.store.cursor(board.id)
        since = (cursor[0] or cursor[1]) if cursor else None
        for raw in self.trello.board_actions(board.id, since=since):
            if self.stopping:
                return
            self.handle(board, raw)
            self.store.set_cursor(board.id, raw["id"], raw["date"])

    def handle(self, board: Board, raw: Json) -> None:
        try:
            event = parse_action(raw)
        except UnexpectedAction as exc:
            logger.warning("board %s: skipping an action I cannot read: %s", board.name, exc)
            return
        if event is None or event.card_id == self._template_cards.get(board.id, _NO_CARD).card_id:
            return
        incident = self.store.incident(event.card_id)
        new, actions = rules.on_event(incident, event, self.config, board.members)
        if new is None or (new == incident and not actions):
            return
        if incident is None or not incident.open:
            logger.info("card %s: incident declared by @%s", new.card_id, event.username)
        new = self.executor.run(new, actions)
        self.store.save(new)

    def reconcile(self, board: Board) -> None:
        """Compare every labelled card with what it should have, and repair the difference."""
        cards = self.trello.cards(board.id)
        label = self.settings.incident_label.casefold()
        template_card = self._template_cards.get(board.id, _NO_CARD).card_id
        by_id = {card["id"]: card for card in cards}
        for card in cards:
            if card["id"] == template_card or label not in self._label_names(board, card):
                continue
            known = self.store.incident(card["id"])
            if known is None or not known.open:
                self._declare_found(board, card)
        for incident in self.store.open_incidents(board.id):
            if self.stopping:
                return
            found = by_id.get(incident.card_id)
            if found is None:
                self.store.save(rules.end(incident, Ended.ARCHIVED, self.clock()))
                logger.info(
                    "card %s: no longer open on the board; reminders stop", incident.card_id
                )
                continue
            self._repair(board, incident, found)

    def _label_names(self, board: Board, card: Json) -> frozenset[str]:
        names = {label["name"].casefold() for label in card.get("labels", []) if label.get("name")}
        by_id = {label_id: name for name, label_id in board.labels.items()}
        names |= {by_id[i] for i in card.get("idLabels", []) if i in by_id}
        return frozenset(names)

    def _declare_found(self, board: Board, card: Json) -> None:
        """A labelled card no event told us about (the worker was away): declare it now.

        The card's own history says who put the label on and when, and what happened since
        (roles named, items ticked, phases signalled): that is replayed through the rules, so
        the incident is as it would be had the worker been watching all along.
        """
        history = self.trello.card_actions(card["id"])
        label = self.settings.incident_label.casefold()
        start = None
        for index, action in enumerate(history):
            if action.get("type") == "addLabelToCard":
                name = action.get("data", {}).get("label", {}).get("name", "")
                if name.casefold() == label:
                    start = index
        by, at = "", self.clock()
        if start is not None:
            labelled = history[start]
            if labelled.get("idMemberCreator") != self.config.worker_member_id:
                by = labelled.get("memberCreator", {}).get("username", "")
            at = datetime.fromisoformat(labelled["date"].replace("Z", "+00:00"))
        incident, actions = rules.declare(
            card["id"],
            card.get("name", ""),
            board.id,
            by=by,
            at=at,
            config=self.config,
            short_link=card.get("shortLink", ""),
        )
        replay = history[start + 1 :] if start is not None else []
        for raw in replay:
            try:
                event = parse_action(raw)
            except UnexpectedAction as exc:
                logger.warning("card %s: skipping an action I cannot read: %s", card["id"], exc)
                continue
            if event is not None:
                after, more = rules.on_event(incident, event, self.config, board.members)
                incident = after or incident
                actions += more
        logger.info(
            "card %s: labelled card found, incident declared (%d later actions replayed)",
            card["id"],
            len(replay),
        )
        incident = self.executor.run(incident, _merge(actions), card=card)
        self.store.save(incident)

    def _repair(self, board: Board, incident: Incident, card: Json) -> None:
        checklists = card.get("checklists")
        if checklists is None:  # never conclude "removed" from an answer that left them out
            logger.warning("card %s: Trello sent no checklists; not repairing", card["id"])
            return
        found = comm_items_on_card(self.template, checklists, incident.comm_items)
        observed = rules.observe_comm_items(incident, found)
        view = CardView(
            card_id=card["id"],
            labels=self._label_names(board, card),
            list_name=board.lists.get(card.get("idList", ""), ""),
            checklist_ids=frozenset(checklist["id"] for checklist in checklists),
            items=item_states(checklists),
        )
        new, actions = rules.reconcile(observed, view, self.clock(), self.config)
        new = self.executor.run(new, actions, card=card)
        if new != incident:
            self.store.save(new)

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
        try:
            if not self.start_patiently(stopped.wait):
                return
            scheduler = BackgroundScheduler(
                executors={"default": ThreadPoolExecutor(1)},
                job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
                timezone=UTC,
            )
            scheduler.add_job(
                self.cycle,
                "interval",
                seconds=self.settings.poll_seconds,
                next_run_time=datetime.now(UTC),
                id="cycle",
            )
            scheduler.start()
            stopped.wait()
            scheduler.shutdown(wait=True)  # the cycle in flight, if any, finishes first
        finally:
            for which, handler in previous.items():
                signal.signal(which, handler)
            logger.info("stopped")


_NO_CARD = TemplateCard("", "", "", {})


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
