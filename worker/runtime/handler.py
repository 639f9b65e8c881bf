"""One Trello action, or one card found labelled: read, decide, carry out, record.

Each step crosses each layer once: the action's JSON is read into an event
(`core.trello_json`), the core decides (`core.declaring.route`, `core.rules`), `rules.settle`
names what is left to do, the executor does it and reports what it found, the core folds that
in (`core.observe`), and the store saves the incident.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from worker.core import declaring, observe, reminders, rules
from worker.core import trello_json as tj
from worker.core.declaring import Go
from worker.core.model import Decision, Incident, Policy, name_key
from worker.runtime.executor import Executor
from worker.runtime.incident_board import IncidentBoard
from worker.runtime.outbound import Outbound
from worker.runtime.template_cards import TemplateCards
from worker.store.database import Store
from worker.trello.client import Trello

logger = logging.getLogger(__name__)


class Handler:
    """Handles actions and declarations for the boards this replica holds."""

    def __init__(
        self,
        trello: Trello,
        store: Store,
        executor: Executor,
        template_cards: TemplateCards,
        incident_board: IncidentBoard | None,
        *,
        clock: Callable[[], datetime],
        stop: threading.Event,
        outbound: Outbound | None = None,
        reacted: Callable[[float], None] | None = None,
    ):
        self.trello = trello
        self.store = store
        self.executor = executor
        self.template_cards = template_cards
        self.incident_board = incident_board
        self.clock = clock
        self.stop = stop
        #: signed outbound webhooks: each step's events queued (see `worker.runtime.outbound`)
        self.outbound = outbound
        #: told how long each reaction took, from the action's date to its effect (seconds)
        self.reacted = reacted
        #: per board, the cards that arrived since the last look, by id (see `look_at_arrivals`)
        self._arrived: dict[str, dict[str, tj.Event]] = {}

    # -- an action -------------------------------------------------------------------------

    def handle(self, board: tj.Board, raw: tj.Json, policy: Policy) -> None:
        """One action of the board's feed (or a webhook delivery)."""
        try:
            event = tj.parse_action(raw)
        except tj.UnexpectedAction as exc:
            logger.warning("board %s: skipping an action I cannot read: %s", board.name, exc)
            return
        if event is None or event.card_id == self.template_cards.card_id(board.id):
            return
        on_card = self.store.incidents.get(event.card_id)
        linked = self._linked(event.card_id) if on_card is None else None
        where = declaring.route(
            event, on_card, linked, runs_elsewhere=self.runs_elsewhere(board.id), policy=policy
        )
        if where.go is Go.IGNORE:
            return
        if where.go is Go.DECLARE_ELSEWHERE:
            source = tj.card(self.trello.card(event.card_id))
            by = "" if event.member_id == policy.worker_member_id else event.username
            self.declare(board, source, by=by, at=event.at, policy=policy)
            return
        if where.go is Go.LOOK:
            self._arrived.setdefault(board.id, {})[event.card_id] = event
            return
        if where.go is Go.FOUND:
            self.declare_found(board, tj.card(self.trello.card(event.card_id)), policy)
            return
        decision = rules.on_event(where.incident, event, policy, board.members)
        if decision is None or decision == (where.incident, []):
            return
        if where.incident is None or not where.incident.open:
            logger.info("card %s: incident declared by @%s", decision[0].card_id, event.username)
        self.apply(where.incident, decision, policy, board)
        if self.reacted is not None:
            self.reacted((self.clock() - event.at).total_seconds())

    def look_at_arrivals(self, board: tj.Board, policy: Policy) -> None:
        """Cards that arrived (created, copied, moved in...) since the last look: declare those
        that came labelled. One request for all of them (the board's open cards), and none
        when no card arrived."""
        arrived = self._arrived.pop(board.id, {})
        # a card labelled in the same poll is declared already: worth no request
        arrived = {card: e for card, e in arrived.items() if self.incident_for(card) is None}
        if not arrived:
            return
        label = name_key(policy.incident_label)
        try:
            listed = self.trello.cards(board.id)
        except Exception:
            self._arrived.setdefault(board.id, {}).update(arrived)  # looked at next time
            raise
        for raw in listed:
            card = tj.card(raw)
            event = arrived.get(card.id)
            if event is None or label not in board.label_names(card):
                continue
            logger.info("card %s: arrived with the incident label", card.id)
            self.declare(board, card, by=event.username, at=event.at, policy=policy)

    def _linked(self, card_id: str) -> Incident | None:
        if self.incident_board is None:
            return None
        linked = self.incident_board.linked_card(card_id)
        return self.store.incidents.get(linked) if linked else None

    def incident_for(self, card_id: str) -> Incident | None:
        """The open incident this card is, or is the source of."""
        incident = self.store.incidents.get(card_id) or self._linked(card_id)
        return incident if incident is not None and incident.open else None

    def runs_elsewhere(self, board_id: str) -> bool:
        """Whether a card labelled on this board gets an incident card of its own."""
        return self.incident_board is not None and board_id != self.incident_board.board_id

    # -- carrying out and recording -------------------------------------------------------------

    def apply(
        self,
        before: Incident | None,
        decision: Decision,
        policy: Policy,
        board: tj.Board,
        card: tj.Card | None = None,
    ) -> Incident:
        """Carry out `decision` and save the incident as it then stands.

        `board`: the incident's board (its members are who the draft's replay knows).
        """
        incident, effects = decision
        settled = rules.settle(incident, effects, policy)
        outcome = self.executor.run(incident, settled, policy, card, members=board.members)
        if outcome.on_card is not None:
            incident = observe.checklists_found(
                incident, outcome.checklists, outcome.on_card, policy
            )
        if incident != before:
            self.store.incidents.save(incident)
            if self.outbound is not None:
                self.outbound.queue(before, incident, self.clock())
        return incident

    def remind(self, board: tj.Board, policy: Policy) -> None:
        """Post the reminders due now on the board's open incidents."""
        now = self.clock()
        for incident in self.store.incidents.open(board.id):
            escalated, due = reminders.due(incident, now, policy)
            for comment in due:
                if self.stop.is_set():
                    return
                self.executor.comment(incident, comment)
            if escalated != incident:  # saved once its reminders are out: a crash re-asks
                self.store.incidents.save(escalated)

    # -- declaring ---------------------------------------------------------------------------

    def declare_found(self, board: tj.Board, card: tj.Card, policy: Policy) -> None:
        """A labelled card no event told us about (the worker was away): declare it now.

        The card's own history says who put the label on and when, and what happened since
        (roles named, items ticked, phases signalled): that is replayed through the rules, so
        the incident is as it would be had the worker been watching all along.
        """
        history = self.trello.card_actions(card.id)
        found = declaring.declared_by(history, policy, self.clock())
        replay = history[found.replay_from :] if found.replay_from is not None else []
        logger.info("card %s: labelled card found (%d later actions)", card.id, len(replay))
        self.declare(
            board, card, by=found.by, at=found.at, replay=replay, given=found.given, policy=policy
        )

    def declare(
        self,
        board: tj.Board,
        card: tj.Card,
        *,
        by: str,
        at: datetime,
        policy: Policy,
        replay: Sequence[tj.Json] = (),
        given: Mapping[str, str] | None = None,
    ) -> None:
        """Declare on `card`, or on a card of its own on the incident board; replay `replay`.

        `given`: roles named with `incident-worker declare` (role -> username)."""
        incident_card, comments, elsewhere = card, list(replay), False
        if self.runs_elsewhere(board.id):
            assert self.incident_board is not None
            made = self.incident_board.card_for(card)
            if made is None:  # another worker is making it right now
                return
            incident_card, new = made
            elsewhere = True
            if not new:  # ours may be on either card
                found = self.trello.card_actions(incident_card.id, action_filter="commentCard")
                comments += found
        decision = rules.declare(
            incident_card.id,
            incident_card.name,
            incident_card.board_id or board.id,
            by=by,
            at=at,
            policy=policy,
            short_link=incident_card.short_link,
            given=given,
            members=board.members,
        )
        if elsewhere:
            incident, links = declaring.link(decision[0], incident_card, card)
            decision = (incident, [*decision[1], *links])
        decision = declaring.replay(
            decision, self._events(card, replay), policy, board.members, from_source=elsewhere
        )
        adopted = self.executor.adopt(decision[0], tj.comments(comments), policy.worker_member_id)
        if adopted:
            logger.warning(
                "card %s: rebuilt from the card (%d comments of mine found); what the card does "
                "not show (when reminders were last sent) starts afresh",
                incident_card.id,
                adopted,
            )
        logger.info("card %s: incident declared by @%s", incident_card.id, by or "(the worker)")
        read = incident_card if incident_card.checklists is not None else None
        self.apply(None, decision, policy, board, card=read)

    def _events(self, card: tj.Card, history: Sequence[tj.Json]) -> list[tj.Event]:
        events = []
        for raw in history:
            try:
                event = tj.parse_action(raw)
            except tj.UnexpectedAction as exc:
                logger.warning("card %s: skipping an action I cannot read: %s", card.id, exc)
                continue
            if event is not None:
                events.append(event)
        return events
