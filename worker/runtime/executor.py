"""Carrying out the rules' actions on Trello, each one safe to repeat.

The runner may carry out the same actions twice (a crash before it saved, a retry after a
failure), so every action here first looks at what is already done:

- checklists are added only when no checklist of that name is on the card, and never when a
  person removed one the worker had added;
- the header is written only when the description's header differs from the wanted one;
- a comment is claimed in the store (`sending`) before it is posted and marked `sent` after.
  A claim still `sending` whose replica is gone (killed, or this worker before a restart)
  means "maybe posted": one replica takes the claim over and searches the card's comments for
  the comment's marker (its key, shown at the end of the comment) before posting it again.
  A live replica's claim is left alone: it is being posted. So a comment is posted once,
  whatever fails, whenever a worker dies, however many replicas there are.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from worker.core import aftercare, header
from worker.core.model import (
    Action,
    AddChecklists,
    AddMembers,
    AttachLink,
    AttachReport,
    Comment,
    CommItem,
    Config,
    Incident,
    RefreshHeader,
    SetDue,
)
from worker.core.rules import observe_comm_items
from worker.errors import RequestRejected, TrelloUnavailable
from worker.logs import incident_context
from worker.report.picture import render_png
from worker.report.timeline import build_report, render_markdown
from worker.store.database import Store, TemplateCard
from worker.template import Moment, Template
from worker.trello.client import Json, Trello

logger = logging.getLogger(__name__)

REPORT_NAME = "post-mortem.md"
PICTURE_NAME = "post-mortem-timeline.png"


def _epoch(incident: Incident) -> int:
    return int(incident.declared_at.timestamp())


def comment_key(incident: Incident, key: str) -> str:
    """The store's key for one of this incident's comments (a re-declared card starts anew)."""
    return f"{incident.card_id}:{_epoch(incident)}:{key}"


def marker(full_key: str) -> str:
    """The marker that ends every comment the worker posts: `iw:<key>@<declared epoch>`.

    It can be read back, so a lost database is rebuilt from the cards (`adopt_comments`).
    """
    _card, epoch, key = full_key.split(":", 2)
    return f"iw:{key}@{epoch}"


MARKER = re.compile(r"`iw:([^`@\s]+)@(\d+)`")


def posted_keys(
    incident: Incident, comments: Iterable[Json], worker_member_id: str
) -> dict[str, str]:
    """The worker's comments on the card for this incident, by store key -> comment id."""
    epoch = str(_epoch(incident))
    found: dict[str, str] = {}
    for action in comments:
        if action.get("type") != "commentCard" or action.get("idMemberCreator") != worker_member_id:
            continue
        text = action.get("data", {}).get("text", "")
        for key, stamp in MARKER.findall(text if isinstance(text, str) else ""):
            if stamp == epoch:
                found[comment_key(incident, key)] = str(action.get("id", ""))
    return found


def comm_items_on_card(
    template: Template, checklists: list[Json], known: Mapping[Moment, CommItem] | None = None
) -> dict[Moment, CommItem | None]:
    """Where the card's checklists hold the communication items, and whether they are ticked.

    An item the worker already knows is followed by its id, so renaming it, or a new template
    wording, changes nothing; a known item no longer on the card gives None (a person removed
    it). An item not known yet is looked for by the template's name for it. Moments whose
    checklist is not on the card are left out: nothing is known of them.
    """
    known = known or {}
    items_by_id = {
        item["id"]: (checklist, item)
        for checklist in checklists
        for item in checklist.get("checkItems", [])
    }
    by_name = {checklist["name"]: checklist for checklist in checklists}
    found: dict[Moment, CommItem | None] = {}
    for moment in Moment:
        before = known.get(moment)
        if before is not None:
            if before.gone:
                continue
            hit = items_by_id.get(before.item_id)
            found[moment] = None if hit is None else _comm_item(*hit)
            continue
        wanted_list, wanted_item = template.communication(moment)
        checklist = by_name.get(wanted_list.name)
        if checklist is None:
            continue
        item = next(
            (i for i in checklist.get("checkItems", []) if i["name"] == wanted_item.name), None
        )
        found[moment] = None if item is None else _comm_item(checklist, item)
    return found


def item_states(checklists: list[Json]) -> dict[str, dict[str, bool]]:
    """checklist id -> item id -> ticked, as the card's JSON shows them."""
    return {
        checklist["id"]: {
            item["id"]: item.get("state") == "complete" for item in checklist.get("checkItems", [])
        }
        for checklist in checklists
    }


def _comm_item(checklist: Json, item: Json) -> CommItem:
    return CommItem(
        checklist_id=checklist["id"],
        item_id=item["id"],
        name=item["name"],
        ticked=item.get("state") == "complete",
    )


class Executor:
    """Performs actions for one incident at a time; returns the incident as it now stands."""

    def __init__(
        self,
        trello: Trello,
        store: Store,
        config: Config,
        template_card: Callable[[str], TemplateCard],
        members: Callable[[str], Mapping[str, str]],
    ):
        self.trello = trello
        self.store = store
        self.config = config
        self.template_card = template_card
        self.members = members

    def run(self, incident: Incident, actions: list[Action], card: Json | None = None) -> Incident:
        """Carry out `actions` in order. `card`, if given, is the card as just read."""
        with incident_context(incident.card_id):
            return self._run(incident, actions, card)

    def _run(self, incident: Incident, actions: list[Action], card: Json | None) -> Incident:
        cache: dict[str, Json] = {}
        if card is not None:
            cache[incident.card_id] = card
        for action in actions:
            if not incident.open and not isinstance(action, Comment | RefreshHeader):
                continue
            if isinstance(action, AddChecklists):
                incident = self._add_checklists(incident, action, cache)
            elif isinstance(action, RefreshHeader):
                self._refresh_header(incident, cache)
            elif isinstance(action, AddMembers):
                self._add_members(incident, action)
            elif isinstance(action, Comment):
                self.comment(incident, action)
            elif isinstance(action, SetDue):
                due = action.due.isoformat() if action.due else None
                self.trello.set_due(incident.card_id, due)
            elif isinstance(action, AttachReport):
                self._attach_report(incident)
            elif isinstance(action, AttachLink):
                self._attach_link(action)
        return incident

    def _card(self, card_id: str, cache: dict[str, Json]) -> Json:
        if card_id not in cache:
            cache[card_id] = self.trello.card(card_id)
        return cache[card_id]

    def _add_checklists(
        self, incident: Incident, action: AddChecklists, cache: dict[str, Json]
    ) -> Incident:
        card = self._card(incident.card_id, cache)
        on_card: list[Json] = card.setdefault("checklists", [])
        names_on_card = {checklist["name"]: checklist["id"] for checklist in on_card}
        source = self.template_card(incident.board_id)
        added = dict(incident.checklists)
        for wanted in self.config.template.for_phase(action.phase):
            name = wanted.name
            if name in incident.removed_checklists or name in added:
                continue
            if name in names_on_card:
                added[name] = names_on_card[name]
                continue
            created = self.trello.copy_checklist(
                incident.card_id, source.checklists[name], name=name
            )
            logger.info("card %s: added checklist %r", incident.card_id, name)
            on_card.append(created)
            added[name] = created["id"]
        incident = incident.model_copy(update={"checklists": added})
        found = comm_items_on_card(self.config.template, on_card, incident.comm_items)
        incident = observe_comm_items(incident, found)
        return aftercare.observe_items(incident, item_states(on_card))

    def _attach_report(self, incident: Incident) -> None:
        """The draft and its picture, replacing any the worker attached before (not piling up)."""
        history = self.trello.card_actions(incident.card_id)
        report = build_report(
            history,
            card_name=incident.name,
            template_version=incident.template_version,
            config=self.config,
        )
        markdown = render_markdown(report, self.config.template, self.config.timezone)
        png = render_png(report, self.config.timezone)
        for old in self.trello.attachments(incident.card_id):
            ours = old.get("idMember") == self.config.worker_member_id
            if ours and old.get("name") in (REPORT_NAME, PICTURE_NAME):
                self.trello.delete_attachment(incident.card_id, old["id"])
        self.trello.attach_file(
            incident.card_id, REPORT_NAME, markdown.encode(), "text/markdown; charset=utf-8"
        )
        self.trello.attach_file(incident.card_id, PICTURE_NAME, png, "image/png")
        logger.info("card %s: post-mortem draft attached", incident.card_id)

    def _attach_link(self, action: AttachLink) -> None:
        if not action.url:
            return
        if any(old.get("url") == action.url for old in self.trello.attachments(action.card_id)):
            return
        self.trello.attach_url(action.card_id, action.url, action.name)

    def _refresh_header(self, incident: Incident, cache: dict[str, Json]) -> None:
        card = self._card(incident.card_id, cache)
        wanted = header.updated(card.get("desc", ""), incident)
        if wanted is None:
            return
        self.trello.set_description(incident.card_id, wanted)
        card["desc"] = wanted
        logger.info("card %s: status header updated", incident.card_id)

    def _add_members(self, incident: Incident, action: AddMembers) -> None:
        known = self.members(incident.board_id)
        for username in action.usernames:
            member_id = known.get(username)
            if member_id is None:
                continue
            try:
                self.trello.add_member(incident.card_id, member_id)
            except RequestRejected as exc:  # already on the card
                logger.debug("card %s: %s", incident.card_id, exc)

    def comment(self, incident: Incident, action: Comment) -> None:
        """Post `action` once, whatever happened before (see the module docstring)."""
        with incident_context(incident.card_id):
            self._comment(incident, action)

    def _comment(self, incident: Incident, action: Comment) -> None:
        key = comment_key(incident, action.key)
        tag = marker(key)
        state = self.store.send_state(key)
        if state == "sent":
            return
        if state == "sending":
            if not self.store.take_over(key):  # a live replica is posting it
                return
            found = self._find_marker(action.card_id, tag)
            if found is not None:
                self.store.mark_sent(key, found)
                logger.info("card %s: comment %s was already posted", action.card_id, tag)
                return
        elif not self.store.claim(key, incident.card_id):
            return
        text = f"{action.text}\n\n`{tag}`"
        try:
            posted = self.trello.comment(action.card_id, text)
        except TrelloUnavailable as exc:
            if not exc.applied_unknown:
                self.store.release(key)
            raise
        except Exception:
            self.store.release(key)
            raise
        self.store.mark_sent(key, str(posted.get("id", "")))
        logger.info("card %s: posted %s (%s)", action.card_id, action.key, tag)

    def adopt_comments(self, incident: Incident, comments: Iterable[Json]) -> int:
        """Record the comments the card shows the worker posted: they are not posted again.

        How a lost database is rebuilt from the cards; returns how many were found.
        """
        found = posted_keys(incident, comments, self.config.worker_member_id)
        for key, comment_id in found.items():
            if self.store.send_state(key) != "sent":
                self.store.claim(key, incident.card_id)
                self.store.mark_sent(key, comment_id)
        return len(found)

    def _find_marker(self, card_id: str, tag: str) -> str | None:
        for action in self.trello.card_actions(card_id, action_filter="commentCard"):
            text: Any = action.get("data", {}).get("text", "")
            if isinstance(text, str) and tag in text:
                return str(action["id"])
        return None
