"""The post-mortem draft: a timeline and metrics from the card's own Trello history.

`build_report` replays the card's actions (oldest first, as `GET /cards/{id}/actions` returns
them) through the same pure rules the worker runs (`events.parse_action`, `rules.on_event`), so
the draft says what the worker saw: who declared, which roles took effect, when the phase
changed, who ticked what. It starts at the first incident label. The worker's own actions are
left out; an action that does not parse is skipped. Pure: no clock, no I/O.

`render_markdown` writes the draft. People's words (comments, card, list, label and item names)
are quoted, never interpreted: every character with inline Markdown meaning
(``\\ ` * _ [ ] < > & ! | ~``) is backslash-escaped, which CommonMark guarantees renders as the
literal character, so ``<script>``, ``**bold**`` or ``[x](y)`` show as typed; and every ``@``
is followed by a zero-width space, so ``@board`` reads the same but cannot become a mention in
any renderer (mention filters that scan the rendered text included). Only the timeline's "who"
is written as a live ``@username``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from worker.core import commands, rules
from worker.core import trello_json as ev
from worker.core.model import MOMENT_OF, FollowUp, Incident, Phase, Policy, mention, same_name
from worker.core.quoting import quote
from worker.template import Moment, Stage, Template

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PHASE_WORDS = {"workaround": "workaround in place", "resolved": "resolved", "closed": "closed"}
_ROLE_WORDS = {
    "lead": "the lead",
    "communicator": "the communicator",
    "delvers": "the deep delvers",
    "quickfixers": "the quickfixers",
}
_USERNAME = re.compile(r"[a-z0-9_]{1,100}")
_WHAT_HAPPENED = re.compile(r"what\s+happened", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    """One line of the timeline. `text` is plain words, not Markdown."""

    at: datetime  # aware, UTC
    who: str  # username, "" if unknown
    kind: str  # declared|role|phase|reopened|stood down|tick|untick|comment|move|label|archived..
    text: str
    moment: Moment | None = None  # for a tick or untick: the communication item it was, if any


@dataclass(frozen=True)
class Metrics:
    declared_at: datetime
    first_communication: timedelta | None  # declaration -> first communication item ticked
    to_workaround: timedelta | None  # declaration -> workaround phase
    to_resolution: timedelta | None  # declaration -> the resolution no re-opening undid
    communication_delays: dict[Moment, timedelta | None]  # per phase reached; None: never ticked
    never_ticked: tuple[Moment, ...]
    #: whether the post mortem is done: until then, an unticked item may still be ticked
    closed: bool = False
    #: status updates (`/update`): how many, the longest time without one (from declaring to
    #: the resolution), and the promised next updates that came in time and that did not
    updates: int = 0
    longest_silence: timedelta | None = None
    promises_kept: int = 0
    promises_missed: int = 0
    #: per audience told with `/tell`: how long after declaring it was first told
    told: dict[str, timedelta] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    card_name: str
    template_version: str
    timeline: tuple[Entry, ...]
    metrics: Metrics


def build_report(
    history: list[dict[str, Any]],
    *,
    card_name: str,
    template_version: str,
    policy: Policy,
    members: Mapping[str, str] | None = None,
    closed: bool = False,
) -> Report:
    """The timeline and metrics of the incident in `history` (the card's actions, oldest first).

    `members` maps the board's usernames to ids, as the rules use it to accept role commands;
    without it, anyone a command names is taken to be on the board. `closed`: the post mortem
    is done, so an item not ticked by now was never ticked (until then it may still be).
    """
    replay = _Replay(policy, members if members is not None else _everyone(history))
    replay.edited = _edited(history)
    for event in _events(history, policy):
        replay.feed(event)
    metrics = replace(replay.metrics(), closed=closed)
    return Report(card_name, template_version, tuple(replay.entries), metrics)


def replayed(
    history: list[dict[str, Any]], *, policy: Policy, members: Mapping[str, str]
) -> Incident | None:
    """The incident as the draft's replay of `history` leaves it (what the timeline tells)."""
    replay = _Replay(policy, members)
    for event in _events(history, policy):
        replay.feed(event)
    return replay.incident


def _events(history: list[dict[str, Any]], policy: Policy) -> list[ev.Event]:
    """The history's events in time order; odd actions and ones of no interest left out.

    A card that arrived with the incident label on it (created with it, copied, moved in:
    Trello records no label action then) was declared when it arrived: its arrival is told
    as the label put on, as the live worker takes it. An edited comment counts as it was
    first written (Trello keeps only the new text on the comment; the `updateComment` action
    keeps the old): that is what the worker read and acted on.
    """
    originals = {action_id: text for action_id, (text, _) in _edits(history).items()}
    found: list[ev.Event] = []
    for raw in history if isinstance(history, list) else []:
        if not isinstance(raw, dict):
            continue
        try:
            event = ev.parse_action(raw)
        except ValueError:  # UnexpectedAction, or a value pydantic let through oddly
            continue
        if event is None:
            continue
        if isinstance(event, ev.Commented) and event.action_id in originals:
            event = replace(event, text=originals[event.action_id])  # as it was first read
        at = event.at if event.at.tzinfo is not None else event.at.replace(tzinfo=UTC)
        found.append(replace(event, at=at.astimezone(UTC)))
    found.sort(key=lambda e: e.at)  # stable: same-time actions keep feed order
    label = policy.incident_label
    if not any(isinstance(e, ev.LabelAdded) and same_name(e.label, label) for e in found):
        arrivals = [n for n, e in enumerate(found) if isinstance(e, ev.CardCreated)]
        if arrivals:
            arrived = found[arrivals[-1]]
            common = {f.name: getattr(arrived, f.name) for f in fields(ev.Event)}
            found[arrivals[-1]] = ev.LabelAdded(**common, label=label)
    return found


def _edits(history: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Per edited comment (by its action id): its first text, and when it was first edited."""
    found: dict[str, tuple[str, str]] = {}
    edits = [raw for raw in history if isinstance(raw, dict) and raw.get("type") == "updateComment"]
    for raw in sorted(edits, key=lambda raw: str(raw.get("date", ""))):
        data = raw.get("data")
        if not isinstance(data, dict):
            continue
        action, old = data.get("action"), data.get("old")
        if isinstance(action, dict) and isinstance(old, dict) and isinstance(old.get("text"), str):
            found.setdefault(str(action.get("id")), (old["text"], str(raw.get("date", ""))))
    return found


def _edited(history: list[dict[str, Any]]) -> set[str]:
    """The comments edited after they were written: an edit action, or Trello's own mark."""
    marked = {
        str(raw.get("id"))
        for raw in history
        if isinstance(raw, dict)
        and raw.get("type") == "commentCard"
        and isinstance(raw.get("data"), dict)
        and raw["data"].get("dateLastEdited")
    }
    return marked | set(_edits(history))


def _everyone(history: list[dict[str, Any]]) -> dict[str, str]:
    """Every username the history's comments name, as if all were on the board."""
    raws = [raw for raw in history if isinstance(raw, dict)] if isinstance(history, list) else []
    texts = [raw["data"].get("text") for raw in raws if isinstance(raw.get("data"), dict)]
    texts += [text for text, _ in _edits(history).values()]  # as first written
    return {n: n for text in texts if isinstance(text, str) for n in rules.MENTION.findall(text)}


class _Replay:
    """Feeds events through the rules and writes down what people did."""

    def __init__(self, policy: Policy, members: Mapping[str, str]):
        self.policy = policy
        self.members = members
        self.incident: Incident | None = None
        self.entries: list[Entry] = []
        self.declared_at: datetime | None = None
        self.phase_at: dict[Phase, datetime] = {}  # first reached
        self.resolved_at: datetime | None = None  # the resolution that stands, if any
        self.resolved_once = False
        self.ticks: dict[Moment, datetime] = {}  # first tick of each communication item
        self.names = {_norm(_comm_name(policy.template, m)): m for m in Moment}
        self.item_ids: dict[str, Moment] = {}
        #: roles given with `incident-worker declare`, for the declaration that follows
        self.given: dict[str, str] = {}
        #: the comments edited after they were written (by action id)
        self.edited: set[str] = set()
        self.update_times: list[datetime] = []
        self.told_at: dict[str, datetime] = {}  # audience -> first told
        self.promises_kept = 0
        self.promises_missed = 0

    def _own(self, event: ev.Event) -> bool:
        return event.member_id == self.policy.worker_member_id

    def feed(self, event: ev.Event) -> None:
        before = self.incident
        label = event.label if isinstance(event, ev.LabelAdded) else None
        if before is None and isinstance(event, ev.Commented) and self._own(event):
            self.given = commands.given_roles(event.text) or self.given
        if before is None and (label is None or not same_name(label, self.policy.incident_label)):
            return  # nothing before the declaration is part of the incident
        decision = rules.on_event(before, event, self.policy, self.members, self.given)
        after = decision[0] if decision is not None else before
        if isinstance(event, ev.Commented) and after is not None:
            self._comment(event)
        start = len(self.entries)
        self.incident = after
        if after is None:
            return
        if before is None or after.declared_at != before.declared_at:
            self.declared_at = self.declared_at or after.declared_at
            self._add(event, "declared", "declared the incident" + (" again" if before else ""))
        for phase, started in after.phase_started.items():
            self.phase_at.setdefault(phase, started)
        if before is not None:
            self._roles(before, after, event)
            for when, told in after.told.items():
                fresh = [a for a in told if a not in before.told.get(when, {})]
                for audience in fresh:
                    self.told_at.setdefault(audience, told[audience])
                if fresh:
                    self._add(event, "told", f"told {', '.join(fresh)} ({when})")
            if after.updates > before.updates:
                self._add(event, "update", f"posted an update: “{after.last_update}”")
                self._updated(before, event.at)
            if after.severity != before.severity and after.severity is not None:
                shown = f"{after.severity} ({after.severity_name})"
                self._add(event, "severity", f"set the severity to {shown}")
            for phase in Phase:
                if after.reached(phase) and not before.reached(phase):
                    self._phase(event, phase)
            if before.reached(Phase.RESOLVED) and not after.reached(Phase.RESOLVED):
                self._reopen(event)  # the rules re-opened it
            if after.ended is not None and before.ended is None:
                self._ended(event)
        said = len(self.entries) > start  # the action is already told as what it did
        if isinstance(event, ev.Commented):
            if self._unresolved(after) and _commands(event, "resolved"):
                self._resolved_again(event)
        elif isinstance(event, ev.CheckItemChanged):
            self._tick(event)
        elif isinstance(event, ev.CardMoved) and not said:
            self._move(event, after)
        elif isinstance(event, ev.LabelAdded | ev.LabelRemoved) and not said:
            self._label(event, after)
        elif isinstance(event, ev.CardArchived) and not said:
            self._add(event, "archived", _did(event))

    def _add(self, event: ev.Event, kind: str, text: str, moment: Moment | None = None) -> None:
        if event.member_id != self.policy.worker_member_id:
            self.entries.append(Entry(event.at, event.username, kind, text, moment))

    def _roles(self, before: Incident, after: Incident, event: ev.Event) -> None:
        for name, words in _ROLE_WORDS.items():
            old, new = getattr(before, name), getattr(after, name)
            if new != old and new:
                people = (new,) if isinstance(new, str) else new
                self._add(event, "role", f"made {', '.join(f'@{p}' for p in people)} {words}")

    def _comment(self, event: ev.Commented) -> None:
        said = [x.strip() for x in event.text.splitlines() if x.strip() and _command(x) is None]
        edited = " (edited later)" if event.action_id in self.edited else ""
        if said:
            more = " …" if len(said) > 1 else ""
            self._add(event, "comment", f"commented “{said[0]}”{more}{edited}")

    def _phase(self, event: ev.Event, phase: Phase) -> None:
        words = _PHASE_WORDS.get(phase.value, phase.value)
        if phase is Phase.RESOLVED and self.resolved_once:
            words += " again"
        text = f"{_did(event)}: {words}" if _did(event) else words
        if isinstance(event, ev.Commented):
            notes = _commands(event, phase.value)
            text = f"marked {words}" + (f": {notes[0]}" if notes and notes[0] else "")
        self._add(event, "phase", text)
        if phase is Phase.RESOLVED:
            self.resolved_at = event.at
            self.resolved_once = True

    def _ended(self, event: ev.Event) -> None:
        if isinstance(event, ev.LabelRemoved):
            self._add(event, "stood down", f"{_did(event)}: stood down")
        elif isinstance(event, ev.CardDeleted | ev.CardArchived):
            self._add(event, _did(event).split()[0], _did(event))

    def _unresolved(self, after: Incident) -> bool:
        """Resolved once, then re-opened: the next resolution signal resolves it again."""
        return after.reached(Phase.RESOLVED) and self.resolved_at is None

    def _resolved_again(self, event: ev.Event) -> None:
        did = _did(event)
        self._add(event, "phase", f"{did}: resolved again" if did else "marked resolved again")
        self.resolved_at = event.at

    def _reopen(self, event: ev.Event) -> None:
        self._add(event, "reopened", f"{_did(event)}: reopened" if _did(event) else "reopened")
        self.resolved_at = None

    def _move(self, event: ev.CardMoved, after: Incident) -> None:
        """A move the rules did not act on (the old rules never re-open: this does)."""
        into = self.policy.is_resolved_list(event.list_after)
        if into and self._unresolved(after):
            self._resolved_again(event)
        elif not into and self.resolved_at and self.policy.is_resolved_list(event.list_before):
            self._reopen(event)
        else:
            self._add(event, "move", _did(event))

    def _label(self, event: ev.LabelAdded | ev.LabelRemoved, after: Incident) -> None:
        resolved = same_name(event.label, self.policy.resolved_label)
        added = isinstance(event, ev.LabelAdded)
        if resolved and added and self._unresolved(after):
            self._resolved_again(event)
        elif resolved and not added and self.resolved_at is not None:
            self._reopen(event)
        else:
            self._add(event, "label", _did(event))

    def _tick(self, event: ev.CheckItemChanged) -> None:
        moment = self.names.get(_norm(event.item_name)) or self.item_ids.get(event.item_id)
        if moment is not None:
            self.item_ids[event.item_id] = moment
            if event.complete:
                self.ticks.setdefault(moment, event.at)
        verb = "ticked" if event.complete else "unticked"
        kind = "tick" if event.complete else "untick"
        self._add(event, kind, f"{verb} “{event.item_name}”", moment=moment)

    def _updated(self, before: Incident, at: datetime) -> None:
        self.update_times.append(at)
        if before.next_update_due is not None:
            if at <= before.next_update_due:
                self.promises_kept += 1
            else:
                self.promises_missed += 1

    def _update_metrics(self, declared: datetime) -> dict[str, Any]:
        end = self.resolved_at or max((e.at for e in self.entries), default=declared)
        marks = [declared, *self.update_times, max(end, *self.update_times, declared)]
        gaps = [later - earlier for earlier, later in zip(marks, marks[1:], strict=False)]
        missed = self.promises_missed
        pending = self.incident.next_update_due if self.incident else None
        if pending is not None and pending < end:
            missed += 1  # promised, and never came
        return {
            "updates": len(self.update_times),
            "longest_silence": max(gaps, default=None) if self.update_times else None,
            "promises_kept": self.promises_kept,
            "promises_missed": missed,
        }

    def metrics(self) -> Metrics:
        declared = self.declared_at or datetime(1970, 1, 1, tzinfo=UTC)

        def since(at: datetime | None) -> timedelta | None:
            return None if at is None else max(timedelta(0), at - declared)

        delays: dict[Moment, timedelta | None] = {}
        for phase, moment in MOMENT_OF.items():
            started = self.phase_at.get(phase)
            if started is not None:
                tick = self.ticks.get(moment)
                delays[moment] = None if tick is None else max(timedelta(0), tick - started)
        return Metrics(
            declared_at=declared,
            first_communication=since(min(self.ticks.values(), default=None)),
            to_workaround=since(self.phase_at.get(Phase.WORKAROUND)),
            to_resolution=since(self.resolved_at),
            communication_delays=delays,
            never_ticked=tuple(m for m, d in delays.items() if d is None),
            **self._update_metrics(declared),
            told={who: max(timedelta(0), at - declared) for who, at in self.told_at.items()},
        )


def _norm(name: str) -> str:
    return " ".join(name.split()).casefold()


def _command(line: str) -> str | None:
    """The command a comment line gives (the timeline tells what it did), None for others."""
    found = commands.parse(line)
    if found is None:
        return None
    return found[0] if found[0] in commands.COMMANDS else None


def _did(event: ev.Event) -> str:
    """What a label, move, archive or delete action did, in words ("" for others)."""
    if isinstance(event, ev.LabelAdded | ev.LabelRemoved):
        verb = "added" if isinstance(event, ev.LabelAdded) else "removed"
        return f"{verb} the label “{event.label}”"
    if isinstance(event, ev.CardMoved):
        return f"moved the card from “{event.list_before}” to “{event.list_after}”"
    if isinstance(event, ev.CardArchived):
        return "archived the card" if event.archived else "sent the card back to the board"
    return "deleted the card" if isinstance(event, ev.CardDeleted) else ""


def _commands(event: ev.Commented, name: str) -> list[str]:
    """What follows each `/name` command line of the comment."""
    found = (commands.parse(line) for line in event.text.splitlines())
    return [rest for command, rest in filter(None, found) if command == name]


# -- rendering ----------------------------------------------------------------------------------


def duration(span: timedelta) -> str:
    """A span as people say it: "4 min", "1 h 20 min", "2 d 3 h" ("< 1 min" when shorter)."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "< 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def _day(at: datetime) -> str:
    return f"{_DAYS[at.weekday()]} {at.day} {_MONTHS[at.month - 1]}"


def _line(entry: Entry, tz: ZoneInfo, dated: bool) -> str:
    local = entry.at.astimezone(tz)
    when = f"{_day(local)} {local:%H:%M}" if dated else f"{local:%H:%M}"
    who = f" @{entry.who}" if _USERNAME.fullmatch(entry.who) else ""
    if entry.who and not who:
        who = f" {quote(entry.who)}"  # not a Trello username: quoted, never a mention
    return f"- {when}{who} {quote(entry.text)}"


def render_markdown(
    report: Report, template: Template, tz: ZoneInfo, followups: Sequence[FollowUp] = ()
) -> str:
    """The post-mortem draft as Markdown: metrics, the meeting agenda with the timeline, the
    follow-ups made so far, footer."""
    m = report.metrics
    times = [m.declared_at, *(e.at for e in report.timeline)]
    dated = len({t.astimezone(tz).date() for t in times}) > 1
    timeline = [_line(e, tz, dated) for e in report.timeline] or ["- (nothing recorded)"]
    declared = m.declared_at.astimezone(tz)
    untold = "never ticked" if m.closed else "not ticked yet"  # until closed, it may still be
    out = [f"# Post mortem: {quote(report.card_name)}", "", "## Metrics", ""]
    rows = [
        ("Declared", f"{_day(declared)} {declared:%Y %H:%M} {declared.tzname() or ''}".strip()),
        ("First communication", _maybe(m.first_communication, "none")),
        ("Time to workaround", _maybe(m.to_workaround, "no workaround")),
        ("Time to resolution", _maybe(m.to_resolution, "not resolved")),
    ]
    for moment in Moment:
        if moment in m.communication_delays:
            delay = m.communication_delays[moment]
            told = untold if delay is None else f"{duration(delay)} after"
            rows.append((f"Communicated at {moment.value}", told))
    for who, after in m.told.items():
        rows.append((f"Told {who}", f"{duration(after)} after"))
    if m.updates:
        rows.append(("Status updates", str(m.updates)))
        rows.append(("Longest without an update", _maybe(m.longest_silence, "-")))
        rows.append(
            ("Next updates promised", f"{m.promises_kept} kept, {m.promises_missed} missed")
        )
    out += ["| Measure | Value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows), ""]
    if m.never_ticked:
        names = ", ".join(f"“{quote(_comm_name(template, moment))}”" for moment in m.never_ticked)
        out += [f"{untold.capitalize()}: {names}.", ""]
    out += ["## Meeting agenda", ""]
    placed = False
    for checklist in template.for_stage(Stage.RESOLVED):
        out += [f"### {checklist.name}", ""]
        out += [*(g for text in checklist.guidance for g in (text, ""))]
        for item in checklist.items:
            pad = "  " * item.depth
            context = f"{item.context} " if item.context else ""
            out.append(f"{pad}- [ ] {context}{item.text}")
            if not placed and _WHAT_HAPPENED.search(item.text):
                out += [f"{pad}  {line}" for line in timeline]
                placed = True
        out.append("")
    if not placed:
        out += ["## Timeline", "", *timeline, ""]
    if followups:
        out += ["## Follow-up cards", ""]
        for followup in followups:
            name = quote(followup.name)
            shown = f"[{name}]({followup.url})" if followup.url else name
            due = followup.due.astimezone(tz).strftime("%a %d %b %Y")
            state = f"done ({followup.done_how})" if followup.done_at else "open"
            out.append(f"- {shown}: {mention(followup.owner)}, due {due}, {state}")
        out.append("")
    out += [
        "---",
        "",
        f"Template version {quote(report.template_version)}. Learnings? Put them back into the "
        "template so the next incident gets them.",
    ]
    return "\n".join(out) + "\n"


def _comm_name(template: Template, moment: Moment) -> str:
    try:
        return template.communication(moment)[1].name
    except LookupError:
        return moment.value


def _maybe(span: timedelta | None, missing: str) -> str:
    return missing if span is None else duration(span)
