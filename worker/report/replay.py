"""Replaying a past incident through a process: what the worker did, and what it would do.

Purely computational, no side effects: a card's history (its actions, oldest first) and a
policy (a template, the current one or a changed one) go in.

- `would` plays the history through the rules as the live worker does: the declaration, then
  each person's action; between two actions, the reminders that would fall due
  (`reminders.next_at` says when), up to the last action. Each comment is recorded with its
  kind (its key: `remind-detection-2`) and time, once; so are the checklists added.
- `did` reads what the worker actually did from the same history: its comments (their kind
  from the marker that ends each one) and the checklists it added.
- `side_by_side` lines them up by kind, with the times, and the metrics each way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from worker.core import keys, reminders, rules
from worker.core import trello_json as tj
from worker.core.model import AddChecklists, Comment, CommItem, Effect, Incident, Policy
from worker.report.timeline import Metrics, build_report, duration
from worker.template import Moment

#: How ids the replay makes up start.
REPLAYED = "replayed:"


@dataclass(frozen=True)
class Said:
    at: datetime
    kind: str  # the comment's key without its incident: "declared", "remind-detection-1"
    text: str  # its first line


@dataclass(frozen=True)
class Played:
    comments: tuple[Said, ...]
    checklists: tuple[str, ...]
    metrics: Metrics


History = Sequence[Mapping[str, Any]]


def would(history: History, policy: Policy, members: Mapping[str, str]) -> Played:
    """What the worker would do with `history` under `policy` (see the module docstring)."""
    said: dict[str, Said] = {}
    checklists: list[str] = []
    incident: Incident | None = None
    now: datetime | None = None

    def record(effects: Sequence[Effect], at: datetime) -> None:
        assert incident is not None
        for effect in rules.settle(incident, effects, policy):
            if isinstance(effect, Comment) and effect.key not in said:
                said[effect.key] = Said(at, effect.key, _first_line(effect.text))
            elif isinstance(effect, AddChecklists):
                checklists.extend(n for n in effect.names if n not in checklists)

    for event in _events(history):
        while incident is not None and now is not None:  # the reminders due before it
            upcoming = reminders.next_at(incident, now, policy)
            if upcoming is None or upcoming > event.at:
                break
            incident, due = reminders.due(incident, upcoming, policy)
            record(due, upcoming)
            now = upcoming
        if incident is not None and isinstance(event, tj.CheckItemChanged):
            incident = _learn_item(incident, event)
        decided = rules.on_event(incident, event, policy, members)
        if decided is None:
            continue
        incident, effects = decided
        record(effects, event.at)
        incident = _with_checklists(incident, effects, policy)
        now = event.at
    report = build_report(
        [dict(a) for a in history],
        card_name=incident.name if incident else "",
        template_version=policy.template.version,
        policy=policy,
        members=members,
    )
    comments = sorted(said.values(), key=lambda s: s.at)
    return Played(tuple(comments), tuple(checklists), report.metrics)


def did(history: History, policy: Policy, members: Mapping[str, str]) -> Played:
    """What the worker did, as the card's history shows it (`policy.worker_member_id`)."""
    comments = []
    checklists: list[str] = []
    for raw in history:
        who = raw.get("idMemberCreator")
        data = raw.get("data") or {}
        if who != policy.worker_member_id or not isinstance(data, dict):
            continue
        at = tj.when(str(raw.get("date")))
        if raw.get("type") == "commentCard":
            text = str(data.get("text") or "")
            found = keys.MARKER.findall(text)
            kind = found[-1][0] if found else "(no marker)"
            comments.append(Said(at, kind, _first_line(text)))
        elif raw.get("type") == "addChecklistToCard":
            name = str((data.get("checklist") or {}).get("name") or "")
            if name and name not in checklists:
                checklists.append(name)
    report = build_report(
        [dict(a) for a in history],
        card_name="",
        template_version="",
        policy=policy,
        members=members,
    )
    return Played(tuple(comments), tuple(checklists), report.metrics)


def side_by_side(done: Played, replayed: Played, tz: ZoneInfo) -> list[str]:
    """The two runs lined up by comment kind (first time each), then checklists and metrics."""
    first_did = {s.kind: s for s in reversed(done.comments)}
    first_would = {s.kind: s for s in reversed(replayed.comments)}
    kinds = sorted(
        set(first_did) | set(first_would),
        key=lambda k: min(s.at for s in (first_did.get(k), first_would.get(k)) if s is not None),
    )
    rows = [("COMMENT", "DID", "WOULD DO", "SAYS")]
    for kind in kinds:
        before, after = first_did.get(kind), first_would.get(kind)
        rows.append(
            (
                kind,
                _time(before, tz),
                _time(after, tz),
                shown.text[:70] if (shown := after or before) is not None else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += [
        "",
        f"Checklists it added:  {', '.join(done.checklists) or '-'}",
        f"Checklists it would:  {', '.join(replayed.checklists) or '-'}",
        "",
        "METRIC                       DID         WOULD",
    ]
    for name, a, b in (
        (
            "first communication",
            done.metrics.first_communication,
            replayed.metrics.first_communication,
        ),
        ("to workaround", done.metrics.to_workaround, replayed.metrics.to_workaround),
        ("to resolution", done.metrics.to_resolution, replayed.metrics.to_resolution),
    ):
        lines.append(f"{name:<28} {_span(a):<11} {_span(b)}")
    count_did = sum(1 for s in done.comments if s.kind.startswith("remind-"))
    count_would = sum(1 for s in replayed.comments if s.kind.startswith("remind-"))
    lines.append(f"{'communication reminders':<28} {count_did:<11} {count_would}")
    return lines


def _events(history: History) -> list[tj.Event]:
    found = []
    for raw in history:
        try:
            event = tj.parse_action(raw)
        except tj.UnexpectedAction:
            continue
        if event is not None:
            found.append(event)
    return found


def _with_checklists(incident: Incident, effects: Sequence[Effect], policy: Policy) -> Incident:
    """The incident as if the card now had the checklists this step adds (their ids made up,
    the communication items' learnt from the history as they are ticked: `_learn_item`)."""
    added = {
        name: f"{REPLAYED}{name}"
        for effect in rules.settle(incident, effects, policy)
        if isinstance(effect, AddChecklists)
        for name in effect.names
    }
    if not added:
        return incident
    items = dict(incident.comm_items)
    for moment in Moment:
        checklist, item = policy.template.communication(moment)
        if checklist.name in added and moment not in items:
            items[moment] = CommItem(
                checklist_id=added[checklist.name], item_id=REPLAYED + moment.value, name=item.name
            )
    return incident.model_copy(
        update={"checklists": {**incident.checklists, **added}, "comm_items": items}
    )


def _learn_item(incident: Incident, event: tj.CheckItemChanged) -> Incident:
    """A communication item the replay made up, given the id the history shows for its name."""
    for moment, item in incident.comm_items.items():
        if item.item_id.startswith(REPLAYED) and item.name == event.item_name:
            learnt = item.model_copy(
                update={"item_id": event.item_id, "checklist_id": event.checklist_id}
            )
            return incident.model_copy(
                update={"comm_items": {**incident.comm_items, moment: learnt}}
            )
    return incident


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _time(said: Said | None, tz: ZoneInfo) -> str:
    return said.at.astimezone(tz).strftime("%d %b %H:%M") if said is not None else "-"


def _span(value: Any) -> str:
    return "-" if value is None else duration(value)
