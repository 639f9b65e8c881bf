"""Card writes: cards, labels and members on cards, comments.

`CardWrites` is handed the records (`store.Store`) and the checklist writes (a copied card
copies the source's checklists through them). Each method takes the acting member and records
the action Trello records for the change, with Trello's `data` shape (checked against recorded
Trello payloads): a move is an `updateCard` with `old.idList`, `listBefore` and `listAfter`; a
label change is an `addLabelToCard`/`removeLabelFromCard` followed by an `updateCard` with
`old.idLabels`.
"""

from __future__ import annotations

from typing import Any

from worker.sandbox.checklists import ChecklistWrites
from worker.sandbox.model import (
    Action,
    Card,
    Label,
    Member,
    TrelloList,
    iso,
)
from worker.sandbox.store import (
    JSON,
    BadRequest,
    NotFound,
    Store,
    board_ref,
    card_ref,
    list_ref,
    position,
)

#: what `keepFromSource=all` keeps of the card copied
KEEP_ALL = frozenset({"attachments", "checklists", "due", "labels", "members"})
#: the card fields a change sets as they come, by Trello name
SIMPLE_FIELDS = {
    "name": "name",
    "desc": "desc",
    "closed": "closed",
    "due": "due",
    "dueComplete": "due_complete",
    "start": "start",
}


def kept_parts(keep: frozenset[str]) -> set[str]:
    """What a copy keeps of its source card, from `keepFromSource` (pure)."""
    return set(KEEP_ALL) if "all" in keep else set(keep)


class CardWrites:
    """Writes to cards, their labels, members and comments (see the module docstring)."""

    def __init__(self, records: Store, checklist_writes: ChecklistWrites):
        self.records = records
        self.checklist_writes = checklist_writes

    # -- cards ------------------------------------------------------------------------------

    def create_card(
        self,
        lst: TrelloList,
        actor: Member,
        *,
        name: str | None,
        desc: str | None = None,
        label_ids: list[str] | None = None,
        member_ids: list[str] | None = None,
        due: str | None = None,
        pos: Any = None,
        source: Card | None = None,
        keep: frozenset[str] = frozenset(),
    ) -> Card:
        with self.records.lock:
            board = self.records.boards[lst.board_id]
            for label_id in label_ids or []:
                if self.records.label(label_id).board_id != board.id:
                    raise BadRequest("invalid value for idLabels")
            for member_id in member_ids or []:
                self.records.find_member(member_id)
            if name is None and source is None:
                raise BadRequest("invalid value for name")
            kept = kept_parts(keep) if source is not None else set()
            now = self.records.clock()
            card = Card(
                id=self.records.ids.new_id(),
                board_id=board.id,
                list_id=lst.id,
                name=name if name is not None else (source.name if source else ""),
                id_short=board.next_id_short,
                short_link=self.records.ids.new_short_link(),
                pos=position(pos, [c.pos for c in self.records.list_cards(lst.id)]),
                date_last_activity=now,
                desc=desc if desc is not None else (source.desc if source else ""),
                due=due if due is not None or source is None or "due" not in kept else source.due,
            )
            board.next_id_short += 1
            if label_ids:
                card.label_ids = list(dict.fromkeys(label_ids))
            elif source is not None and "labels" in kept and source.board_id == board.id:
                card.label_ids = list(source.label_ids)
            if member_ids:
                card.member_ids = list(dict.fromkeys(member_ids))
            elif source is not None and "members" in kept:
                card.member_ids = list(source.member_ids)
            self.records.cards[card.id] = card
            if source is not None and "checklists" in kept:
                for cl in self.records.card_checklists(source):
                    self.checklist_writes.copy_checklist(card, cl, cl.name, cl.pos, reset=False)
            if source is not None and "attachments" in kept:
                self.checklist_writes.copy_attachments(source, card, actor, now)
            if source is None:
                data = {"card": card_ref(card), "list": list_ref(lst), "board": board_ref(board)}
                self.records.record("createCard", actor, board, data, card)
            else:
                data = {
                    "cardSource": card_ref(source),
                    "card": card_ref(card),
                    "list": list_ref(lst),
                    "board": board_ref(board),
                }
                self.records.record("copyCard", actor, board, data, card)
            return card

    def update_card(self, card: Card, actor: Member, changes: dict[str, Any]) -> Card:
        """Apply Trello field changes (`name`, `desc`, `idList`, `closed`, `due`, `dueComplete`,
        `start`, `pos`, `idLabels`, `idMembers`), recording one action per changed field."""
        with self.records.lock:
            for key, value in changes.items():
                board, lst = self.records.card_context(card)
                if key in SIMPLE_FIELDS:
                    old = getattr(card, SIMPLE_FIELDS[key])
                    if old == value:
                        continue
                    setattr(card, SIMPLE_FIELDS[key], value)
                    data = {
                        "card": card_ref(card, **{key: value}),
                        "old": {key: old},
                        "board": board_ref(board),
                        "list": list_ref(lst),
                    }
                    self.records.record("updateCard", actor, board, data, card)
                elif key == "pos":
                    new_pos = position(
                        value, [c.pos for c in self.records.list_cards(lst.id) if c is not card]
                    )
                    if new_pos == card.pos:
                        continue
                    old_pos, card.pos = card.pos, new_pos
                    data = {
                        "card": card_ref(card, pos=new_pos),
                        "old": {"pos": old_pos},
                        "board": board_ref(board),
                        "list": list_ref(lst),
                    }
                    self.records.record("updateCard", actor, board, data, card)
                elif key == "idList":
                    self.move_card(card, actor, self.records.trello_list(value))
                elif key == "idLabels":
                    self.set_card_labels(card, actor, list(value))
                elif key == "idMembers":
                    wanted = [self.records.find_member(mid) for mid in value]
                    for member_id in list(card.member_ids):
                        if member_id not in {m.id for m in wanted}:
                            self.remove_card_member(card, actor, self.records.members[member_id])
                    for member in wanted:
                        if member.id not in card.member_ids:
                            self.add_card_member(card, actor, member)
                else:
                    raise BadRequest(f"invalid value for {key}")
            return card

    def move_card(self, card: Card, actor: Member, target: TrelloList) -> Card:
        with self.records.lock:
            if target.board_id != card.board_id:
                raise BadRequest("invalid value for idList")
            if target.id == card.list_id:
                return card
            board, before = self.records.card_context(card)
            card.list_id = target.id
            card.pos = position(
                None, [c.pos for c in self.records.list_cards(target.id) if c is not card]
            )
            data = {
                "card": card_ref(card, idList=target.id),
                "old": {"idList": before.id},
                "board": board_ref(board),
                "listBefore": list_ref(before),
                "listAfter": list_ref(target),
            }
            self.records.record("updateCard", actor, board, data, card)
            return card

    def delete_card(self, card: Card, actor: Member) -> None:
        with self.records.lock:
            board, lst = self.records.card_context(card)
            for checklist_id in card.checklist_ids:
                self.records.checklists.pop(checklist_id, None)
            for attachment_id in card.attachment_ids:
                self.records.attachments.pop(attachment_id, None)
            del self.records.cards[card.id]
            ref = {"id": card.id, "idShort": card.id_short, "shortLink": card.short_link}
            data = {"card": ref, "list": list_ref(lst), "board": board_ref(board)}
            self.records.record("deleteCard", actor, board, data, card)

    # -- labels and members on cards --------------------------------------------------------

    def _label_action(self, kind: str, card: Card, actor: Member, label: Label) -> None:
        board = self.records.boards[card.board_id]
        data = {
            "value": label.color,
            "text": label.name,
            "card": card_ref(card),
            "board": board_ref(board),
            "label": {"id": label.id, "name": label.name, "color": label.color},
        }
        self.records.record(kind, actor, board, data, card)

    def _labels_changed(self, card: Card, actor: Member, old: list[str]) -> None:
        board, lst = self.records.card_context(card)
        data = {
            "card": card_ref(card, idLabels=list(card.label_ids)),
            "old": {"idLabels": old},
            "board": board_ref(board),
            "list": list_ref(lst),
        }
        self.records.record("updateCard", actor, board, data, card)

    def add_card_label(self, card: Card, actor: Member, label: Label) -> list[str]:
        with self.records.lock:
            if label.board_id != card.board_id:
                raise BadRequest("invalid value for value")
            if label.id in card.label_ids:
                raise BadRequest("that label is already on the card")
            old = list(card.label_ids)
            card.label_ids.append(label.id)
            self._label_action("addLabelToCard", card, actor, label)
            self._labels_changed(card, actor, old)
            return list(card.label_ids)

    def remove_card_label(self, card: Card, actor: Member, label: Label) -> list[str]:
        with self.records.lock:
            if label.id not in card.label_ids:
                raise NotFound("that label is not on the card")
            old = list(card.label_ids)
            card.label_ids.remove(label.id)
            self._label_action("removeLabelFromCard", card, actor, label)
            self._labels_changed(card, actor, old)
            return list(card.label_ids)

    def set_card_labels(self, card: Card, actor: Member, label_ids: list[str]) -> None:
        with self.records.lock:
            wanted = [self.records.label(label_id) for label_id in dict.fromkeys(label_ids)]
            old = list(card.label_ids)
            removed = [
                self.records.labels[lid] for lid in old if lid not in {lb.id for lb in wanted}
            ]
            added = [label for label in wanted if label.id not in old]
            if not removed and not added:
                return
            card.label_ids = [label.id for label in wanted]
            for label in removed:
                self._label_action("removeLabelFromCard", card, actor, label)
            for label in added:
                self._label_action("addLabelToCard", card, actor, label)
            self._labels_changed(card, actor, old)

    def _member_action(self, kind: str, card: Card, actor: Member, member: Member) -> None:
        board = self.records.boards[card.board_id]
        data: JSON = {"idMember": member.id}
        if kind == "removeMemberFromCard":
            data["deactivated"] = False
        data.update(
            card=card_ref(card),
            board=board_ref(board),
            member={"id": member.id, "name": member.full_name},
        )
        self.records.record(kind, actor, board, data, card, subject=member)

    def add_card_member(self, card: Card, actor: Member, member: Member) -> None:
        with self.records.lock:
            if member.id in card.member_ids:
                raise BadRequest("member is already on the card")
            card.member_ids.append(member.id)
            self._member_action("addMemberToCard", card, actor, member)

    def remove_card_member(self, card: Card, actor: Member, member: Member) -> None:
        with self.records.lock:
            if member.id not in card.member_ids:
                raise NotFound("member is not on the card")
            card.member_ids.remove(member.id)
            self._member_action("removeMemberFromCard", card, actor, member)

    # -- comments ---------------------------------------------------------------------------

    def comment(self, card: Card, actor: Member, text: str) -> Action:
        with self.records.lock:
            if not text:
                raise BadRequest("invalid value for text")
            board, lst = self.records.card_context(card)
            data = {
                "text": text,
                "textData": {"emoji": {}},
                "card": card_ref(card),
                "board": board_ref(board),
                "list": list_ref(lst),
            }
            return self.records.record("commentCard", actor, board, data, card)

    def _comment(self, action_id: str) -> tuple[Action, Card]:
        action = self.records.action(action_id)
        if action.type != "commentCard" or action.card_id not in self.records.cards:
            raise NotFound()
        return action, self.records.cards[action.card_id]

    def edit_comment(self, action_id: str, actor: Member, text: str) -> Action:
        with self.records.lock:
            if not text:
                raise BadRequest("invalid value for text")
            action, card = self._comment(action_id)
            old = action.data["text"]
            action.data["text"] = text
            action.data["dateLastEdited"] = iso(self.records.clock())
            board = self.records.boards[card.board_id]
            data = {
                "action": {"id": action.id, "text": text},
                "card": card_ref(card),
                "board": board_ref(board),
                "old": {"text": old},
            }
            self.records.record("updateComment", actor, board, data, card)
            return action

    def delete_comment(self, action_id: str, actor: Member) -> None:
        with self.records.lock:
            action, card = self._comment(action_id)
            self.records.actions.remove(action)
            board = self.records.boards[card.board_id]
            data = {"action": {"id": action.id}, "card": card_ref(card), "board": board_ref(board)}
            self.records.record("deleteComment", actor, board, data, card)
