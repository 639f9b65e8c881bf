"""The reconcile pass, and declaring incidents the feed did not tell us about.

Every `INCIDENT_RECONCILE_SECONDS` (and at start) the worker reads every watched board's open
cards (one request a board) and compares each labelled card with what it should have:

- a labelled card that is no incident yet is declared, for whoever put the label on (read
  from the card's history, whose later actions are replayed through the rules);
- each open incident is compared with its card (and, when it runs on a card of its own, with
  the labelled source card): phase signals it missed, the label gone, checklists people removed,
  ticks, the header. What a person deliberately removed stays removed.

It is a mixin of `worker.runtime.worker.Worker`, kept apart so that each module reads on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.core import rules
from worker.core.model import Action, AttachLink, CardView, Comment, Config, Ended, Incident
from worker.core.trello_json import (
    CardArchived,
    CardDeleted,
    CheckItemChanged,
    Event,
    UnexpectedAction,
    parse_action,
)
from worker.errors import TrelloError
from worker.runtime.executor import Executor, comm_items_on_card, item_states
from worker.runtime.incident_board import IncidentBoard
from worker.runtime.leases import Leases
from worker.runtime.template_cards import TemplateCards
from worker.settings import Settings
from worker.store.database import Store
from worker.template import Template
from worker.trello.client import Json, Trello

logger = logging.getLogger(__name__)

#: Events on a source card that do not concern the incident running elsewhere.
NOT_FROM_SOURCE = (CardArchived, CardDeleted, CheckItemChanged)


class Reconciling:
    """Reconcile and declare; the attributes are the `Worker`'s."""

    settings: Settings
    trello: Trello
    store: Store
    executor: Executor
    config: Config
    template: Template
    template_cards: TemplateCards
    incident_board: IncidentBoard | None
    boards: dict[str, Any]
    leases: Leases
    clock: Callable[[], datetime]
    stopping: bool

    @property
    def held(self) -> list[Any]:
        """The boards this replica works on now: taken, read, and their leases current."""
        return [self.boards[b] for b in self.leases.boards() if b in self.boards]

    def reconcile(self) -> None:
        """One pass over every watched board (see the module docstring)."""
        cards: dict[str, tuple[Any, Json]] = {}
        seen: set[str] = set()
        for board in self.held:
            if board.failing:  # its feed is behind: let the events come first, then compare
                continue
            try:
                listed = self.trello.cards(board.id)
            except TrelloError as exc:
                if not board.failing:  # a failing board's feed has said so already
                    logger.warning("board %s: %s (will keep trying)", board.name, exc)
                board.failing = True
                continue
            seen.add(board.id)
            for card in listed:
                cards[card["id"]] = (board, card)
        self.store.forget_handled_before(self.clock() - timedelta(days=2))
        label = self.settings.incident_label.casefold()
        for board, card in list(cards.values()):
            if card["id"] == self.template_cards.card_id(board.id):
                continue
            if label in self.label_names(board, card) and self.incident_for(card["id"]) is None:
                self.declare_found(board, card)
        for incident in self.store.open_incidents():
            if self.stopping:
                return
            if incident.board_id not in seen:
                continue
            found = cards.get(incident.card_id)
            if found is None:
                self.store.save(rules.end(incident, Ended.ARCHIVED, self.clock()))
                logger.info("card %s: not open on the board now; reminders stop", incident.card_id)
                continue
            source = cards.get(incident.source_card_id or "")
            if incident.source_card_id and source is None and self._source_board_failing():
                continue
            if self._feed_behind(found) or (source is not None and self._feed_behind(source)):
                continue  # something happened the feed has not brought yet: next pass
            self._repair(incident, *found, source)

    def _feed_behind(self, found: tuple[Any, Json]) -> bool:
        """Whether the card changed after the newest action the worker has read of its board.

        Then the change's event is still on its way, and it says who did what: comparing now
        would act on it without knowing (and say "by nobody").
        """
        board, card = found
        cursor = self.store.cursor(board.id)
        activity = card.get("dateLastActivity")
        if cursor is None or not activity:
            return False
        return _when(activity) > _when(cursor[1])

    def _source_board_failing(self) -> bool:
        return any(board.failing for board in self.held)

    def incident_for(self, card_id: str) -> Incident | None:
        """The open incident this card is, or is the source of."""
        incident = self.store.incident(card_id)
        if incident is None and self.incident_board is not None:
            linked = self.incident_board.linked_card(card_id)
            incident = self.store.incident(linked) if linked else None
        return incident if incident is not None and incident.open else None

    def label_names(self, board: Any, card: Json) -> frozenset[str]:
        names = {label["name"].casefold() for label in card.get("labels", []) if label.get("name")}
        by_id = {label_id: name for name, label_id in board.labels.items()}
        names |= {by_id[i] for i in card.get("idLabels", []) if i in by_id}
        return frozenset(names)

    def runs_elsewhere(self, board_id: str) -> bool:
        """Whether a card labelled on this board gets an incident card of its own."""
        return self.incident_board is not None and board_id != self.incident_board.board_id

    # -- declaring ---------------------------------------------------------------------------

    def declare_found(self, board: Any, card: Json) -> None:
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
        replay = history[start + 1 :] if start is not None else []
        logger.info("card %s: labelled card found (%d later actions)", card["id"], len(replay))
        self.declare(board, card, by=by, at=at, replay=replay)

    def declare(
        self, board: Any, card: Json, *, by: str, at: datetime, replay: Sequence[Json] = ()
    ) -> None:
        """Declare on `card`, or on a card of its own on the incident board; replay `replay`."""
        incident_card, comments = card, replay
        if self.runs_elsewhere(board.id):
            assert self.incident_board is not None
            made = self.incident_board.card_for(card)
            if made is None:  # another worker is making it right now
                return
            incident_card, new = made
            if not new:  # ours may be on either card
                found = self.trello.card_actions(incident_card["id"], action_filter="commentCard")
                comments = [*replay, *found]
        incident, actions = rules.declare(
            incident_card["id"],
            incident_card.get("name", ""),
            incident_card.get("idBoard", board.id),
            by=by,
            at=at,
            config=self.config,
            short_link=incident_card.get("shortLink", ""),
        )
        if incident_card is not card:
            incident, links = link(incident, incident_card, card)
            actions += links
        for raw in replay:
            try:
                event = parse_action(raw)
            except UnexpectedAction as exc:
                logger.warning("card %s: skipping an action I cannot read: %s", card["id"], exc)
                continue
            if event is None or (incident_card is not card and isinstance(event, NOT_FROM_SOURCE)):
                continue
            after, more = rules.on_event(incident, event, self.config, board.members)
            incident = after or incident
            actions += more
        adopted = self.executor.adopt_comments(incident, comments)
        if adopted:
            logger.warning(
                "card %s: rebuilt from the card (%d comments of mine found); what the card does "
                "not show (when reminders were last sent) starts afresh",
                incident.card_id,
                adopted,
            )
        logger.info("card %s: incident declared by @%s", incident.card_id, by or "(the worker)")
        given = incident_card if incident_card.get("checklists") is not None else None
        incident = self.executor.run(incident, list(dict.fromkeys(actions)), card=given)
        self.store.save(incident)

    def declare_from_event(self, board: Any, event: Event) -> None:
        """The incident label, seen in the feed, on a card whose incident runs elsewhere."""
        source = self.trello.card(event.card_id)
        by = "" if event.member_id == self.config.worker_member_id else event.username
        self.declare(board, source, by=by, at=event.at)

    # -- repairing ---------------------------------------------------------------------------

    def _repair(
        self, incident: Incident, board: Any, card: Json, source: tuple[Any, Json] | None
    ) -> None:
        checklists = card.get("checklists")
        if checklists is None:  # never conclude "removed" from an answer that left them out
            logger.warning("card %s: Trello sent no checklists; not repairing", card["id"])
            return
        found = comm_items_on_card(self.template, checklists, incident.comm_items)
        observed = rules.observe_comm_items(incident, found)
        labels = self.label_names(board, card)
        list_name = board.lists.get(card.get("idList", ""), "")
        incident_label = self.settings.incident_label.casefold()
        label_board = board
        if incident.source_card_id:
            if source is None:  # the source card cannot be seen now: never stand down for it
                labels |= {incident_label}
            else:
                source_board, source_card = source
                label_board = source_board
                labels |= self.label_names(source_board, source_card)
                source_list = source_board.lists.get(source_card.get("idList", ""), "")
                if self.config.is_resolved_list(source_list):
                    list_name = source_list
        if incident_label not in label_board.labels:
            # the board has no such label (renamed?): that is no one standing the incident down
            labels |= {incident_label}
        view = CardView(
            card_id=card["id"],
            labels=labels,
            list_name=list_name,
            checklist_ids=frozenset(checklist["id"] for checklist in checklists),
            items=item_states(checklists),
        )
        new, actions = rules.reconcile(observed, view, self.clock(), self.config)
        new = self.executor.run(new, actions, card=card)
        if new != incident:
            self.store.save(new)


def link(incident: Incident, incident_card: Json, source: Json) -> tuple[Incident, list[Action]]:
    """Tie an incident card and its source card together, both ways."""
    incident = incident.model_copy(
        update={"source_card_id": source["id"], "source_url": source.get("shortUrl", "")}
    )
    where = incident_card.get("shortUrl", "")
    text = (
        f"This incident is run on its own card: {where}. Checklists, roles and reminders are "
        "there; the incident label, moving this card and `/workaround`, `/resolved` here count too."
    )
    return incident, [
        AttachLink(incident_card["id"], source.get("shortUrl", ""), f"Source: {source['name']}"),
        AttachLink(source["id"], where, f"Incident: {incident_card.get('name', '')}"),
        Comment(source["id"], "incident-card", text),
    ]


def _when(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
