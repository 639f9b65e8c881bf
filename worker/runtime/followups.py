"""Follow-up cards: made once, kept in step with their items, and their owners reminded.

The deciding is `worker.core.followups`; this does it. At the end of each reconcile pass
(`run`), with the cards the pass read:

- each open incident whose card shows new items in its follow-ups checklist gets a card for
  each, made exactly once (`worker.runtime.cards_made`, keyed by the item; the card carries the
  item's marker), in `INCIDENT_FOLLOWUP_LIST` (made if the board has no such open list) on
  the incident's board or on `INCIDENT_FOLLOWUP_BOARD_ID`, with its owner as a member and its
  due date; the two cards get links to each other, and the incident records the follow-up
  once the links are there;
- each follow-up still to be done, whether or not its incident has ended, is compared with its
  item and its card, and what is done on one side is completed on the other.

Each cycle (`remind`), the owners of the board's follow-ups get the reminders due.

A follow-up is looked after by the replica that holds its incident's board. A card not among
its board's open cards is read on its own, once, to tell archived from deleted or moved.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime

from worker.core import followups
from worker.core import trello_json as tj
from worker.core.bounds import NAME_MAX
from worker.core.keys import followup_marker
from worker.core.model import AttachLink, Effect, FollowUp, Incident, Policy, RefreshHeader
from worker.core.quoting import plain
from worker.errors import NotFoundError
from worker.runtime.cards_made import find_marked, list_id, made_once
from worker.runtime.executor import Executor
from worker.store.database import Store
from worker.trello.client import Trello

logger = logging.getLogger(__name__)

#: What a reconcile pass read: card id -> (its board, the card).
Read = Mapping[str, tuple[tj.Board, tj.Card]]
#: A board and its open cards, by id.
_View = tuple[tj.Board, dict[str, tj.Card]]


class FollowUps:
    """Makes follow-up cards and keeps them in step (see the module docstring)."""

    def __init__(
        self,
        trello: Trello,
        store: Store,
        executor: Executor,
        *,
        board_id: str | None,
        list_name: str,
        clock: Callable[[], datetime],
        stop: threading.Event,
    ):
        self.trello = trello
        self.store = store
        self.executor = executor
        #: the board the cards go to (None: each incident's own board)
        self.board_id = board_id
        self.list_name = list_name
        self.clock = clock
        self.stop = stop

    def run(self, read: Read, boards: Mapping[str, tj.Board], policy: Policy) -> None:
        """Make the new follow-ups' cards, then compare every open one with both its sides.

        `boards`: the boards the reconcile pass read, by id; `read`: their open cards."""
        if policy.template.followups is None and not self.store.incidents.with_open_followups():
            return
        views: dict[str, _View] = {board_id: (board, {}) for board_id, board in boards.items()}
        for board, card in read.values():
            if board.id in views:
                views[board.id][1][card.id] = card
        for incident in self.store.incidents.open():
            found = read.get(incident.card_id)
            if found is None or incident.board_id not in boards or self.stop.is_set():
                continue
            board, card = found
            checklist = followups.checklist_of(incident, card.checklists or (), policy)
            if checklist is None:
                continue
            target = self._view(self.board_id or board.id, views)[0]
            now = self.clock()
            for followup in followups.found(
                incident, checklist, now, policy, board_id=target.id, members=target.members
            ):
                incident = self._make(incident, card, followup, target, policy)
        for incident in self.store.incidents.with_open_followups():
            if incident.board_id in boards and not self.stop.is_set():
                self._compare(incident, read, views, policy)

    def remind(self, board_id: str, policy: Policy) -> None:
        """The reminders due now about the follow-ups of the board's incidents."""
        now = self.clock()
        for incident in self.store.incidents.with_open_followups(board_id):
            for followup in incident.followups.values():
                for comment in followups.reminders(incident, followup, now, policy):
                    if self.stop.is_set():
                        return
                    self.executor.comment(incident, comment)

    def _make(
        self,
        incident: Incident,
        incident_card: tj.Card,
        followup: FollowUp,
        target: tj.Board,
        policy: Policy,
    ) -> Incident:
        """Make the follow-up's card (once), link the two cards, and record it."""
        name, desc = followups.card_text(incident, followup, incident_card.short_url)
        owner = target.members.get(followup.owner)

        def make() -> tj.Card:
            where = list_id(
                self.trello, target.id, self.list_name, "INCIDENT_FOLLOWUP_LIST", make=True
            )
            card = tj.card(
                self.trello.create_card(
                    where,
                    name,
                    desc=desc,
                    member_ids=(owner,) if owner else (),
                    due=followup.due.isoformat(),
                )
            )
            logger.info("card %s: follow-up card made for card %s", card.id, incident.card_id)
            return card

        made = made_once(
            self.store.links,
            f"fu:{followup.item_id}",
            incident.card_id,
            find=lambda: find_marked(self.trello, target.id, followup_marker(followup.item_id)),
            make=make,
            fetch=lambda card_id: tj.card(self.trello.card(card_id)),
        )
        if made is None:  # a replica is making it right now
            return incident
        card, _new = made
        followup = followup.model_copy(update={"card_id": card.id, "url": card.short_url})
        recorded = incident.model_copy(
            update={"followups": {**incident.followups, followup.item_id: followup}}
        )
        links: list[Effect] = [
            AttachLink(incident.card_id, card.short_url, plain(f"Follow-up: {name}", NAME_MAX)),
            AttachLink(
                card.id, incident_card.short_url, plain(f"Incident: {incident.name}", NAME_MAX)
            ),
            RefreshHeader(incident.card_id),
        ]
        self.executor.run(recorded, links, policy)
        self.store.incidents.save(recorded)
        return recorded

    def _compare(
        self,
        incident: Incident,
        read: Read,
        views: dict[str, _View],
        policy: Policy,
    ) -> None:
        incident_card = read.get(incident.card_id)
        items = {}
        if incident_card is not None:
            checklist = followups.checklist_of(incident, incident_card[1].checklists or (), policy)
            items = {item.id: item.ticked for item in checklist.items} if checklist else {}
        changed = dict(incident.followups)
        effects: list[Effect] = []
        for followup in incident.followups.values():
            if not followup.open or not followup.card_id:
                continue
            side = self._side(followup, views)
            ticked = items.get(followup.item_id) if incident_card is not None else None
            done, more = followups.compare(
                incident, followup, ticked=ticked, side=side, now=self.clock(), policy=policy
            )
            if done != followup:
                logger.info(
                    "card %s: follow-up %s is done (%s)",
                    incident.card_id,
                    done.card_id,
                    done.done_how,
                )
                changed[done.item_id] = done
                effects += more
        if changed == incident.followups:
            return
        incident = incident.model_copy(update={"followups": changed})
        self.executor.run(incident, list(dict.fromkeys(effects)), policy)
        self.store.incidents.save(incident)

    def _side(self, followup: FollowUp, views: dict[str, _View]) -> followups.CardSide:
        """The follow-up's card as it is now (deleted: `gone`)."""
        board, cards = self._view(followup.board_id, views)
        card = cards.get(followup.card_id)
        if card is None:  # archived, deleted or moved away: read on its own
            try:
                card = tj.card(self.trello.card(followup.card_id))
            except NotFoundError:
                return followups.CardSide(gone=True)
        return followups.CardSide(
            list_name=board.list_name(card) if card.board_id == board.id else "",
            closed=card.closed,
            due_complete=card.due_complete,
        )

    def _view(self, board_id: str, views: dict[str, _View]) -> _View:
        """The board and its open cards: as the pass read them, else read here (once a pass)."""
        if board_id not in views:
            board = tj.board(
                self.trello.board(board_id),
                self.trello.lists(board_id),
                [],
                self.trello.board_members(board_id),
            )
            views[board_id] = (board, {c.id: c for c in map(tj.card, self.trello.cards(board_id))})
        return views[board_id]
