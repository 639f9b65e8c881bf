"""Cards the worker makes, each exactly once: incident cards and follow-up cards.

Before it makes a card the worker claims the card's key in the store (`links`), and after it
records the new card's id under that key. A claim left open by a crash means "the card may
exist": the board is searched (`find`, for the marker the card carries) before another is made.
A live replica's open claim means it is making the card right now: nothing is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from worker.core import trello_json as tj
from worker.core.declaring import CardStep, card_claim
from worker.errors import NotFoundError
from worker.store.claims import Claims
from worker.trello.client import Trello

logger = logging.getLogger(__name__)


def made_once(
    links: Claims,
    key: str,
    for_card: str,
    *,
    find: Callable[[], tj.Card | None],
    make: Callable[[], tj.Card],
    fetch: Callable[[str], tj.Card],
) -> tuple[tj.Card, bool] | None:
    """The card made for `key` and whether it is new: the one made before, or a new one.

    `for_card`: the card it is made for (recorded with the claim). `find` looks for it on the
    board, `make` makes it, `fetch` reads a card by id. None when another worker (a replica)
    is making it right now. A claim left open by a crash, or no record at all (a lost
    database), makes it look on the board first; a recorded card a person deleted is made again.
    """
    state = links.state(key)
    taken_over = state == "sending" and links.take_over(key)
    step = card_claim(state, taken_over)
    if step is CardStep.WAIT:
        return None
    if step is CardStep.FETCH_RECORDED:
        made = links.recorded(key)
        if made:
            try:
                return fetch(made), False
            except NotFoundError:  # deleted by a person: make a new one
                logger.info("card %s made for %s is gone; making another", made, key)
        links.forget(key)
    else:
        found = find()
        if found is not None:
            if state is None:
                links.claim(key, for_card)
            links.mark_sent(key, found.id)
            logger.info("card %s: found the card made before for %s", found.id, key)
            return found, False
    if state != "sending" and not links.claim(key, for_card):
        return None
    card = make()
    links.mark_sent(key, card.id)
    return card, True


def find_marked(trello: Trello, board_id: str, marker: str) -> tj.Card | None:
    """The board's open card whose description carries `marker`."""
    for raw in trello.cards(board_id):
        card = tj.card(raw)
        if marker in card.desc:
            return card
    return None


def list_id(
    trello: Trello, board_id: str, name: str | None, setting: str, *, make: bool = False
) -> str:
    """The id of the board's open list called `name`; when it has none, a new one (`make`) or
    its first list, said in the log.

    `setting`: what names the board and list, for the messages."""
    lists = trello.lists(board_id)
    if name:
        for item in lists:
            if tj.named(item).name == name:
                return tj.named(item).id
        if make:
            logger.warning("board %s had no open list %r (%s): made it", board_id, name, setting)
            return tj.named(trello.create_list(board_id, name)).id
        logger.warning(
            "board %s has no open list %r (%s); using its first list", board_id, name, setting
        )
    if not lists:
        raise NotFoundError(f"The board {board_id} ({setting}) has no open list.")
    return tj.named(lists[0]).id
