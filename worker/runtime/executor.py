"""Carrying out the worker's effects on Trello, each one safe to repeat.

The executor decides nothing: the rules said what to do and `rules.settle` named it; the
executor does it and reports what it found. It may be asked to do the same thing twice (a
crash before the incident was saved, a retry after a failure), so every effect first looks at
what is already done:

- a checklist is copied only when no checklist of that name is on the card; one already
  there is reported as found (`Outcome`), for the rules to fold in;
- the header is written only when the description's header differs from the wanted one;
- a write Trello refuses as invalid (400: too long, say) is not retried: the card gets one
  comment saying what could not be written, the log a line, and the incident goes on;
- a comment is bounded to Trello's 16,384 characters (its last lines give way, and it says
  so), claimed in the store (`sending`) before it is posted and marked `sent` after (or
  `refused`).
  A claim still `sending` whose replica is gone (killed, or this worker before a restart)
  means "maybe posted": one replica takes the claim over and searches the card's comments for
  the comment's marker (its key, shown at the end of the comment) before posting it again.
  A live replica's claim is left alone: it is being posted. So a comment is posted once,
  whatever fails, whenever a worker dies, however many replicas there are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from pydantic import SecretStr

from worker.core import bounds, header, keys
from worker.core import trello_json as tj
from worker.core.model import (
    AddChecklists,
    AddMembers,
    AttachLink,
    AttachReport,
    Comment,
    Effect,
    Incident,
    Policy,
    RefreshHeader,
    Send,
    SetDue,
    TickItem,
)
from worker.core.quoting import quote
from worker.errors import RequestRejected, TrelloUnavailable
from worker.logs import incident_context
from worker.report.draft import PICTURE_NAME, REPORT_NAME, Draft
from worker.settings import scheme_of
from worker.store.database import Store, TemplateCard
from worker.store.outbox import Parcel
from worker.template import NESTED_PREFIX
from worker.trello.client import Trello

logger = logging.getLogger(__name__)

#: What each kind of effect writes, as the note about a refused write says it.
REFUSED_WHAT: dict[type, str] = {
    Comment: "a comment",
    AddChecklists: "the checklists",
    RefreshHeader: "the status header",
    SetDue: "the due date",
    AttachReport: "the post-mortem draft",
    AttachLink: "a link to the other card",
    TickItem: "a tick",
    Send: "a message",
}


@dataclass
class Outcome:
    """What carrying out found: the checklists put on the card (copied, or there already)."""

    #: checklist name -> id, for each checklist copied or found on the card
    checklists: dict[str, str] = field(default_factory=dict)
    #: every checklist on the card afterwards, when checklists were asked for
    on_card: tuple[tj.Checklist, ...] | None = None


class Executor:
    """Carries out effects for one incident at a time and reports what it found."""

    def __init__(
        self,
        trello: Trello,
        store: Store,
        template_card: Callable[[str], TemplateCard],
        draft: Callable[[Incident, list[tj.Json], Policy, Mapping[str, str] | None], Draft],
        channels: Mapping[str, Sequence[SecretStr]] | None = None,
    ):
        self.trello = trello
        self.store = store
        self.template_card = template_card
        self.draft = draft
        self._me: str | None = None  # the worker's member id, read when first needed
        #: each audience's channels (`INCIDENT_CHANNELS`), to queue a message for each
        self.channels = channels or {}

    def run(
        self,
        incident: Incident,
        effects: Sequence[Effect],
        policy: Policy,
        card: tj.Card | None = None,
        *,
        members: Mapping[str, str] | None = None,
    ) -> Outcome:
        """Carry out `effects` in order. `card`, if given, is the incident's card as just read.

        `policy` and `members` (the board's, by username) are what the draft is composed with;
        nothing here decides by them.
        """
        with incident_context(incident.card_id):
            outcome = Outcome()
            cards: dict[str, tj.Card] = {card.id: card} if card is not None else {}
            for effect in effects:
                try:
                    self._do(incident, effect, policy, cards, outcome, members)
                except RequestRejected as exc:
                    self._refused(incident, effect, exc)
            return outcome

    def _do(
        self,
        incident: Incident,
        effect: Effect,
        policy: Policy,
        cards: dict[str, tj.Card],
        outcome: Outcome,
        members: Mapping[str, str] | None,
    ) -> None:
        """One effect; a write Trello refuses as invalid raises `RequestRejected`."""
        if isinstance(effect, AddChecklists):
            self._add_checklists(effect, self._card(effect.card_id, cards), outcome)
        elif isinstance(effect, RefreshHeader):
            card = self._card(effect.card_id, cards)
            cards[effect.card_id] = self._refresh_header(incident, card)
        elif isinstance(effect, AddMembers):
            self._add_members(effect)
        elif isinstance(effect, Comment):
            self.comment(incident, effect)
        elif isinstance(effect, SetDue):
            due = effect.due.isoformat() if effect.due else None
            self.trello.set_due(effect.card_id, due, complete=effect.complete)
        elif isinstance(effect, AttachReport):
            self._attach_report(incident, policy, members)
        elif isinstance(effect, AttachLink):
            self._attach_link(effect)
        elif isinstance(effect, Send):
            self._queue(effect)
        elif isinstance(effect, TickItem):
            self._tick(incident, effect, self._card(effect.card_id, cards))

    def _refused(self, incident: Incident, effect: Effect, exc: RequestRejected) -> None:
        """Trello refused a write as invalid: trying again would change nothing. Said once on
        the card (the log says it when even that is refused); the incident goes on."""
        what = REFUSED_WHAT.get(type(effect), "a change")
        logger.warning(
            "card %s: Trello refused %s (%s); going on without it", effect.card_id, what, exc
        )
        if isinstance(effect, Comment) and effect.key.startswith("refused-"):
            return  # the note itself was refused: the log line above is all there is
        kind = effect.key if isinstance(effect, Comment) else type(effect).__name__.lower()
        note = Comment(
            effect.card_id,
            f"refused-{kind}",
            f"I could not write {what} on this card: Trello refused it ({quote(str(exc))}). "
            "The incident goes on without it.",
        )
        try:
            self._comment(incident, note)
        except RequestRejected as again:
            logger.warning("card %s: Trello refused the note too (%s)", effect.card_id, again)

    def _card(self, card_id: str, cards: dict[str, tj.Card]) -> tj.Card:
        if card_id not in cards:
            cards[card_id] = tj.card(self.trello.card(card_id))
        return cards[card_id]

    def _add_checklists(self, effect: AddChecklists, card: tj.Card, outcome: Outcome) -> None:
        on_card = list(outcome.on_card if outcome.on_card is not None else card.checklists or ())
        there = {checklist.name: checklist.id for checklist in on_card}
        source = self.template_card(card.board_id)
        for name in effect.names:
            if name in there:
                outcome.checklists[name] = there[name]
                continue
            made = tj.checklist(
                self.trello.copy_checklist(card.id, source.checklists[name], name=name)
            )
            logger.info("card %s: added checklist %r", card.id, name)
            on_card.append(made)
            outcome.checklists[name] = made.id
        outcome.on_card = tuple(on_card)

    def _attach_report(
        self, incident: Incident, policy: Policy, members: Mapping[str, str] | None
    ) -> None:
        """The draft and its picture, replacing any the worker attached before (not piling up)."""
        history = self.trello.card_actions(incident.card_id)
        draft = self.draft(incident, history, policy, members)
        ours = policy.worker_member_id
        for old in tj.attachments(self.trello.attachments(incident.card_id)):
            if old.member_id == ours and old.name in (REPORT_NAME, PICTURE_NAME):
                self.trello.delete_attachment(incident.card_id, old.id)
        self.trello.attach_file(
            incident.card_id, REPORT_NAME, draft.markdown.encode(), "text/markdown; charset=utf-8"
        )
        if draft.png is not None:
            self.trello.attach_file(incident.card_id, PICTURE_NAME, draft.png, "image/png")
            logger.info("card %s: post-mortem draft attached", incident.card_id)
        else:
            logger.warning(
                "card %s: post-mortem draft attached without its picture (%s)",
                incident.card_id,
                draft.trouble,
            )

    def _queue(self, effect: Send) -> None:
        """The message, queued once for each channel of its audience (the courier sends it)."""
        for n, url in enumerate(self.channels.get(effect.audience, ())):
            parcel = Parcel(
                key=f"{effect.card_id}:{effect.key}:{n}",
                message=f"{effect.card_id}:{effect.key}",
                card_id=effect.card_id,
                audience=effect.audience,
                channel=n,
                scheme=scheme_of(url.get_secret_value()),
                title=effect.title,
                body=effect.body,
            )
            if self.store.outbox.queue(parcel):
                logger.info(
                    "card %s: queued for %s (%s)", effect.card_id, effect.audience, parcel.scheme
                )

    def _tick(self, incident: Incident, effect: TickItem, card: tj.Card) -> None:
        """Tick the item (by id, or by how its name starts, on the worker's checklists), once."""
        ours = set(incident.checklists.values())
        for checklist in card.checklists or ():
            for item in checklist.items:
                shown = item.name
                while shown.startswith(NESTED_PREFIX):  # an item nested in the template
                    shown = shown.removeprefix(NESTED_PREFIX)
                wanted = item.id == effect.item_id or (
                    effect.name_start
                    and checklist.id in ours
                    and shown.startswith(effect.name_start)
                )
                if wanted and not item.ticked:
                    self.trello.tick(card.id, item.id)
                    logger.info("card %s: ticked %r", card.id, item.name)
                if wanted:
                    return

    def _attach_link(self, effect: AttachLink) -> None:
        if not effect.url:
            return
        found = tj.attachments(self.trello.attachments(effect.card_id))
        if any(old.url == effect.url for old in found):
            return
        self.trello.attach_url(effect.card_id, effect.url, effect.name)

    def _refresh_header(self, incident: Incident, card: tj.Card) -> tj.Card:
        fitted = header.fit(card.desc, incident)
        if fitted.note is not None:
            self._comment(incident, Comment(card.id, "header-left-off", fitted.note))
        if fitted.description is None:
            return card
        self.trello.set_description(card.id, fitted.description)
        logger.info("card %s: status header updated", card.id)
        return replace(card, desc=fitted.description)

    def _add_members(self, effect: AddMembers) -> None:
        for member_id in effect.member_ids:
            try:
                self.trello.add_member(effect.card_id, member_id)
            except RequestRejected as exc:  # already on the card
                logger.debug("card %s: %s", effect.card_id, exc)

    def comment(self, incident: Incident, effect: Comment) -> None:
        """Post `effect` once, whatever happened before (see the module docstring)."""
        with incident_context(incident.card_id):
            try:
                self._comment(incident, effect)
            except RequestRejected as exc:
                self._refused(incident, effect, exc)

    def _comment(self, incident: Incident, effect: Comment) -> None:
        key = keys.comment_key(incident, effect.key)
        tag = keys.marker(key)
        state = self.store.claims.state(key)
        if state in ("sent", "refused"):
            return
        if state == "sending":
            if not self.store.claims.take_over(key):  # a live replica is posting it
                return
            found = self._find_marker(effect.card_id, tag)
            if found is not None:
                self.store.claims.mark_sent(key, found)
                logger.info("card %s: comment %s was already posted", effect.card_id, tag)
                return
        elif not self.store.claims.claim(key, incident.card_id):
            return
        ending = f"\n\n`{tag}`"
        text = bounds.fit(effect.text, bounds.TEXT_MAX - len(ending)) + ending
        try:
            posted = self.trello.comment(effect.card_id, text)
        except TrelloUnavailable as exc:
            if not exc.applied_unknown:
                self.store.claims.release(key)
            raise
        except RequestRejected:  # never posted, and never will be: not tried again
            self.store.claims.mark_refused(key)
            raise
        except Exception:
            self.store.claims.release(key)
            raise
        self.store.claims.mark_sent(key, tj.id_of(posted))
        logger.info("card %s: posted %s (%s)", effect.card_id, effect.key, tag)

    def adopt(
        self, incident: Incident, comments: Iterable[tj.Posted], worker_member_id: str
    ) -> int:
        """Record the comments the card shows the worker posted: they are not posted again.

        How a lost database is rebuilt from the cards; returns how many were found.
        """
        found = keys.posted_keys(incident, comments, worker_member_id)
        for key, comment_id in found.items():
            if self.store.claims.state(key) != "sent":
                self.store.claims.claim(key, incident.card_id)
                self.store.claims.mark_sent(key, comment_id)
        return len(found)

    def _find_marker(self, card_id: str, tag: str) -> str | None:
        """The worker's own comment on the card that ends with `tag`: only its own count (a
        person may paste a marker into a comment of theirs)."""
        if self._me is None:
            self._me = tj.id_of(self.trello.me())
        history = self.trello.card_actions(card_id, action_filter="commentCard")
        for comment in tj.comments(history):
            if comment.member_id == self._me and comment.text.rstrip().endswith(f"`{tag}`"):
                return comment.id
        return None
