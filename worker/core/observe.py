"""What a card shows, folded into the incident: checklists, communication items, ticks.

The executor reports what it found on a card (the checklists already there, the ones it
copied); the reconcile pass reads the whole card. These functions decide what that means for
the incident. Purely computational, no side effects: the caller performs nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from worker.core import aftercare
from worker.core.model import CardView, CommItem, Incident, Policy, name_key
from worker.core.trello_json import Board, Card, Checklist, Item
from worker.template import Moment, Template


def comm_items_on_card(
    template: Template, checklists: Sequence[Checklist], known: Mapping[Moment, CommItem]
) -> dict[Moment, CommItem | None]:
    """Where the card's checklists hold the communication items, and whether they are ticked.

    An item the worker already knows is followed by its id, so renaming it, or a new template
    wording, changes nothing; a known item no longer on the card gives None (a person removed
    it). An item not known yet is looked for by the template's name for it. Moments whose
    checklist is not on the card are left out: nothing is known of them.
    """
    by_id = {item.id: (c, item) for c in checklists for item in c.items}
    by_name = {c.name: c for c in checklists}
    found: dict[Moment, CommItem | None] = {}
    for moment in Moment:
        before = known.get(moment)
        if before is not None:
            if before.gone:
                continue
            hit = by_id.get(before.item_id)
            found[moment] = None if hit is None else _comm_item(*hit)
            continue
        wanted_list, wanted_item = template.communication(moment)
        on_card = by_name.get(wanted_list.name)
        if on_card is None:
            continue
        item = next((i for i in on_card.items if i.name == wanted_item.name), None)
        found[moment] = None if item is None else _comm_item(on_card, item)
    return found


def _comm_item(checklist: Checklist, item: Item) -> CommItem:
    return CommItem(checklist_id=checklist.id, item_id=item.id, name=item.name, ticked=item.ticked)


def item_states(checklists: Sequence[Checklist]) -> dict[str, dict[str, bool]]:
    """checklist id -> item id -> ticked."""
    return {c.id: {item.id: item.ticked for item in c.items} for c in checklists}


def observe_comm_items(incident: Incident, found: Mapping[Moment, CommItem | None]) -> Incident:
    """Fold in what the card shows of the communication items.

    `found[moment]` is the item as on the card, or None when it is not there. An item the
    worker knew of and that is no longer on the card was removed by a person: it is marked
    gone and never reminded about again.
    """
    items = dict(incident.comm_items)
    for moment, seen in found.items():
        known = items.get(moment)
        if seen is not None:
            items[moment] = seen
        elif known is not None and not known.gone:
            items[moment] = known.model_copy(update={"gone": True})
    if items == incident.comm_items:
        return incident
    return incident.model_copy(update={"comm_items": items})


def communicated(incident: Incident, at: datetime) -> Incident:
    """Stamp `at` on each message first seen told now (its item ticked, by a person or `/tell`)."""
    new = {
        moment: at
        for moment, item in incident.comm_items.items()
        if item.ticked and moment not in incident.communicated
    }
    if not new:
        return incident
    return incident.model_copy(update={"communicated": {**incident.communicated, **new}})


def checklists_found(
    incident: Incident,
    added: Mapping[str, str],
    on_card: Sequence[Checklist],
    policy: Policy,
) -> Incident:
    """The incident once the executor has put checklists on its card.

    `added` maps each checklist name it copied or found already there to that checklist's
    id; `on_card` is every checklist the card now has.
    """
    incident = incident.model_copy(update={"checklists": {**incident.checklists, **added}})
    found = comm_items_on_card(policy.template, on_card, incident.comm_items)
    incident = observe_comm_items(incident, found)
    return aftercare.observe_items(incident, item_states(on_card))


def card_view(
    incident: Incident,
    board: Board,
    card: Card,
    source: tuple[Board, Card] | None,
    policy: Policy,
) -> CardView:
    """The level a reconcile pass compares the incident with.

    The incident label counts from the source card too, when the incident runs on a card of
    its own, and so does a source card in a resolved list. Missing information never stands
    an incident down: a source card that cannot be seen now, or a board that has no label
    of that name (renamed?), count as the label still being there.
    """
    labels = board.label_names(card)
    list_name = board.list_name(card)
    label = name_key(policy.incident_label)
    label_board = board
    if incident.source_card_id:
        if source is None:
            labels |= {label}
        else:
            source_board, source_card = source
            label_board = source_board
            labels |= source_board.label_names(source_card)
            if policy.is_resolved_list(source_board.list_name(source_card)):
                list_name = source_board.list_name(source_card)
    if label not in label_board.labels:
        labels |= {label}
    checklists = card.checklists or ()
    return CardView(
        card_id=card.id,
        labels=labels,
        list_name=list_name,
        checklist_ids=frozenset(c.id for c in checklists),
        items=item_states(checklists),
        comm_items=comm_items_on_card(policy.template, checklists, incident.comm_items),
    )
