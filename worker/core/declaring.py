"""Which incident an event belongs to, and declaring one the feed did not tell us about.

Purely computational, no side effects: the shell reads the cards and the store, these
functions decide, and the shell carries out what they return.

- `route`: the incident an event concerns. With an incident board, an event on a labelled
  card concerns the incident run on its incident card; the incident label put on a card whose
  incident runs elsewhere declares one there.
- `declared_by`: who declared an incident found labelled, read from the card's history.
- `replay`: the card's later history through the rules, so an incident found late is as it
  would be had the worker been watching all along.
- `link`: an incident card and its source card tied together, both ways.
- `card_claim`: the steps that make exactly one incident card per labelled card.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from worker.core import commands, rules
from worker.core import trello_json as tj
from worker.core.bounds import NAME_MAX
from worker.core.model import AttachLink, Comment, Decision, Effect, Incident, Policy, same_name
from worker.core.quoting import quote

#: Events on a source card that do not concern the incident running elsewhere.
NOT_FROM_SOURCE = (tj.CardArchived, tj.CardDeleted, tj.CheckItemChanged)


class Go(StrEnum):
    """Where an event goes."""

    DECIDE = "decide"  # through the rules, with the incident found (or none)
    DECLARE_ELSEWHERE = "declare elsewhere"  # make (or find) the incident card, declare there
    LOOK = "look"  # a card arrived with labels no action shows: read it, declare if labelled
    FOUND = "found"  # `incident-worker declare` labelled it: read its history, declare from it
    IGNORE = "ignore"


@dataclass(frozen=True)
class Route:
    go: Go
    incident: Incident | None = None


def route(
    event: tj.Event,
    on_card: Incident | None,
    linked: Incident | None,
    *,
    runs_elsewhere: bool,
    policy: Policy,
) -> Route:
    """Where `event` goes, given the incident recorded for its card and the one it is linked to.

    `runs_elsewhere`: the event's board gets incident cards of their own (an incident board is
    set and this is not it).
    """
    incident = on_card
    if incident is None and linked is not None:
        if isinstance(event, NOT_FROM_SOURCE):
            return Route(Go.IGNORE)  # the source card's own life does not concern the incident
        incident = linked
    labelled = isinstance(event, tj.LabelAdded) and same_name(event.label, policy.incident_label)
    none_open = incident is None or not incident.open
    own = event.member_id == policy.worker_member_id  # the worker's cards carry no label
    if none_open and labelled and own:
        return Route(Go.FOUND)  # its history has the roles given with it
    if none_open and runs_elsewhere and labelled:
        return Route(Go.DECLARE_ELSEWHERE)
    if none_open and isinstance(event, tj.CardCreated) and not own:
        return Route(Go.LOOK)
    return Route(Go.DECIDE, incident)


@dataclass(frozen=True)
class Declaration:
    """Who declared an incident found on a card, when, and where its later history starts."""

    by: str  # "" when the worker put the label on (`incident-worker declare`) or nobody knows
    at: datetime
    replay_from: int | None  # index in the history of the first action after the label
    #: the roles given with `incident-worker declare` (role -> username)
    given: Mapping[str, str] = field(default_factory=dict)


def declared_by(history: list[tj.Json], policy: Policy, now: datetime) -> Declaration:
    """Read off a labelled card's history (oldest first): the last time the label went on,
    and, when the worker put it on, the roles its comment just before gave."""
    labelled = tj.last_labelled(history, policy.incident_label)
    if labelled is None:
        return Declaration("", now, None)
    if labelled.member_id != policy.worker_member_id:
        return Declaration(labelled.username, labelled.at, labelled.index + 1)
    given: dict[str, str] = {}
    for posted in tj.comments(history[: labelled.index]):
        if posted.member_id == policy.worker_member_id:
            given = commands.given_roles(posted.text) or given
    return Declaration("", labelled.at, labelled.index + 1, given)


def replay(
    decision: Decision,
    events: Iterable[tj.Event],
    policy: Policy,
    members: Mapping[str, str],
    *,
    from_source: bool,
) -> Decision:
    """`decision` (a declaration) with `events` that happened since, through the rules.

    `from_source`: the events are the source card's, whose own life (archived, items ticked)
    does not concern an incident run on a card of its own.
    """
    incident, effects = decision
    for event in events:
        if from_source and isinstance(event, NOT_FROM_SOURCE):
            continue
        after = rules.on_event(incident, event, policy, members)
        if after is not None:
            incident, more = after
            effects = [*effects, *more]
    return incident, effects


def incident_name(name: str) -> str:
    """The name of the incident card made for a card named `name` (said once, not twice)."""
    return name if name.lower().startswith("incident:") else f"Incident: {name}"


def link(incident: Incident, incident_card: tj.Card, source: tj.Card) -> Decision:
    """Tie an incident card and its source card together, both ways."""
    incident = incident.model_copy(
        update={"source_card_id": source.id, "source_url": source.short_url}
    )
    where = incident_card.short_url
    text = (
        f"This incident is run on its own card: {where}. Checklists, roles and reminders are "
        "there; the incident label, moving this card and `/workaround`, `/resolved` here count too."
    )
    effects: list[Effect] = [
        AttachLink(incident_card.id, source.short_url, quote(f"Source: {source.name}", NAME_MAX)),
        AttachLink(source.id, where, quote(incident_name(incident_card.name), NAME_MAX)),
        Comment(source.id, "incident-card", text),
    ]
    return incident, effects


class CardStep(StrEnum):
    """The next step towards a source card's one incident card."""

    FETCH_RECORDED = "fetch recorded"  # the card made before: use it (make another if deleted)
    WAIT = "wait"  # a live replica is making it right now
    SEARCH_THEN_MAKE = "search then make"  # it may exist (a crash, a lost database): look first


def card_claim(state: str | None, taken_over: bool) -> CardStep:
    """The step for a link in `state` (`sent`, `sending`, or None: never recorded).

    `taken_over`: for `sending`, whether this replica took the claim over from a gone one.
    """
    if state == "sent":
        return CardStep.FETCH_RECORDED
    if state == "sending" and not taken_over:
        return CardStep.WAIT
    return CardStep.SEARCH_THEN_MAKE
