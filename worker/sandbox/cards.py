"""Card writes: lists, labels, cards, labels and members on cards, comments.

Each method takes the acting member and records the action Trello records for the change,
with Trello's `data` shape (checked against recorded Trello payloads): a move is an
`updateCard` with `old.idList`, `listBefore` and `listAfter`; a label change is an
`addLabelToCard`/`removeLabelFromCard` followed by an `updateCard` with `old.idLabels`.
"""

from __future__ import annotations

from typing import Any

from worker.sandbox.model import (
    Action,
    Attachment,
    Board,
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


class CardOps(Store):
    """Writes to lists, labels, cards, their members and comments."""

    # -- lists and labels -------------------------------------------------------------------

    def create_list(self, board: Board, actor: Member, name: str, pos: Any = None) -> TrelloList:
        with self.lock:
            taken = [lst.pos for lst in self.board_lists(board.id)]
            lst = TrelloList(self.ids.new_id(), board.id, name, position(pos, taken))
            self.lists[lst.id] = lst
            self._record(
                "createList", actor, board, {"list": list_ref(lst), "board": board_ref(board)}
            )
            return lst

    def set_list_closed(self, lst: TrelloList, actor: Member, closed: bool) -> TrelloList:
        with self.lock:
            if lst.closed != closed:
                old, lst.closed = lst.closed, closed
                board = self.boards[lst.board_id]
                data = {
                    "list": {"closed": closed, **list_ref(lst)},
                    "old": {"closed": old},
                    "board": board_ref(board),
                }
                self._record("updateList", actor, board, data)
            return lst

    def create_label(self, board: Board, actor: Member, name: str, color: str | None) -> Label:
        with self.lock:
            label = Label(self.ids.new_id(), board.id, name, color)
            self.labels[label.id] = label
            data = {
                "label": {"id": label.id, "name": name, "color": color},
                "board": board_ref(board),
            }
            self._record("createLabel", actor, board, data)
            return label

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
        with self.lock:
            board = self.boards[lst.board_id]
            for label_id in label_ids or []:
                if self.label(label_id).board_id != board.id:
                    raise BadRequest("invalid value for idLabels")
            for member_id in member_ids or []:
                self.find_member(member_id)
            if name is None and source is None:
                raise BadRequest("invalid value for name")
            kept = (
                (
                    {"attachments", "checklists", "due", "labels", "members"}
                    if "all" in keep
                    else set(keep)
                )
                if source is not None
                else set()
            )
            now = self.clock()
            card = Card(
                id=self.ids.new_id(),
                board_id=board.id,
                list_id=lst.id,
                name=name if name is not None else (source.name if source else ""),
                id_short=board.next_id_short,
                short_link=self.ids.new_short_link(),
                pos=position(pos, [c.pos for c in self.list_cards(lst.id)]),
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
            self.cards[card.id] = card
            if source is not None and "checklists" in kept:
                for cl in self.card_checklists(source):
                    self._copy_checklist(card, cl, cl.name, cl.pos, reset=False)
            if source is not None and "attachments" in kept:
                for att_id in source.attachment_ids:
                    att = self.attachments[att_id]
                    copied = Attachment(
                        self.ids.new_id(),
                        card.id,
                        att.name,
                        att.url,
                        now,
                        actor.id,
                        att.mime_type,
                        att.content,
                        att.file_name,
                    )
                    self.attachments[copied.id] = copied
                    card.attachment_ids.append(copied.id)
            if source is None:
                data = {"card": card_ref(card), "list": list_ref(lst), "board": board_ref(board)}
                self._record("createCard", actor, board, data, card)
            else:
                data = {
                    "cardSource": card_ref(source),
                    "card": card_ref(card),
                    "list": list_ref(lst),
                    "board": board_ref(board),
                }
                self._record("copyCard", actor, board, data, card)
            return card

    def update_card(self, card: Card, actor: Member, changes: dict[str, Any]) -> Card:
        """Apply Trello field changes (`name`, `desc`, `idList`, `closed`, `due`, `dueComplete`,
        `start`, `pos`, `idLabels`, `idMembers`), recording one action per changed field."""
        with self.lock:
            simple = {
                "name": "name",
                "desc": "desc",
                "closed": "closed",
                "due": "due",
                "dueComplete": "due_complete",
                "start": "start",
            }
            for key, value in changes.items():
                board, lst = self._card_context(card)
                if key in simple:
                    old = getattr(card, simple[key])
                    if old == value:
                        continue
                    setattr(card, simple[key], value)
                    data = {
                        "card": card_ref(card, **{key: value}),
                        "old": {key: old},
                        "board": board_ref(board),
                        "list": list_ref(lst),
                    }
                    self._record("updateCard", actor, board, data, card)
                elif key == "pos":
                    new_pos = position(
                        value, [c.pos for c in self.list_cards(lst.id) if c is not card]
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
                    self._record("updateCard", actor, board, data, card)
                elif key == "idList":
                    self.move_card(card, actor, self.trello_list(value))
                elif key == "idLabels":
                    self.set_card_labels(card, actor, list(value))
                elif key == "idMembers":
                    wanted = [self.find_member(mid) for mid in value]
                    for member_id in list(card.member_ids):
                        if member_id not in {m.id for m in wanted}:
                            self.remove_card_member(card, actor, self.members[member_id])
                    for member in wanted:
                        if member.id not in card.member_ids:
                            self.add_card_member(card, actor, member)
                else:
                    raise BadRequest(f"invalid value for {key}")
            return card

    def move_card(self, card: Card, actor: Member, target: TrelloList) -> Card:
        with self.lock:
            if target.board_id != card.board_id:
                raise BadRequest("invalid value for idList")
            if target.id == card.list_id:
                return card
            board, before = self._card_context(card)
            card.list_id = target.id
            card.pos = position(None, [c.pos for c in self.list_cards(target.id) if c is not card])
            data = {
                "card": card_ref(card, idList=target.id),
                "old": {"idList": before.id},
                "board": board_ref(board),
                "listBefore": list_ref(before),
                "listAfter": list_ref(target),
            }
            self._record("updateCard", actor, board, data, card)
            return card

    def delete_card(self, card: Card, actor: Member) -> None:
        with self.lock:
            board, lst = self._card_context(card)
            for checklist_id in card.checklist_ids:
                self.checklists.pop(checklist_id, None)
            for attachment_id in card.attachment_ids:
                self.attachments.pop(attachment_id, None)
            del self.cards[card.id]
            ref = {"id": card.id, "idShort": card.id_short, "shortLink": card.short_link}
            data = {"card": ref, "list": list_ref(lst), "board": board_ref(board)}
            self._record("deleteCard", actor, board, data, card)

    # -- labels and members on cards --------------------------------------------------------

    def _label_action(self, kind: str, card: Card, actor: Member, label: Label) -> None:
        board = self.boards[card.board_id]
        data = {
            "value": label.color,
            "text": label.name,
            "card": card_ref(card),
            "board": board_ref(board),
            "label": {"id": label.id, "name": label.name, "color": label.color},
        }
        self._record(kind, actor, board, data, card)

    def _labels_changed(self, card: Card, actor: Member, old: list[str]) -> None:
        board, lst = self._card_context(card)
        data = {
            "card": card_ref(card, idLabels=list(card.label_ids)),
            "old": {"idLabels": old},
            "board": board_ref(board),
            "list": list_ref(lst),
        }
        self._record("updateCard", actor, board, data, card)

    def add_card_label(self, card: Card, actor: Member, label: Label) -> list[str]:
        with self.lock:
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
        with self.lock:
            if label.id not in card.label_ids:
                raise NotFound("that label is not on the card")
            old = list(card.label_ids)
            card.label_ids.remove(label.id)
            self._label_action("removeLabelFromCard", card, actor, label)
            self._labels_changed(card, actor, old)
            return list(card.label_ids)

    def set_card_labels(self, card: Card, actor: Member, label_ids: list[str]) -> None:
        with self.lock:
            wanted = [self.label(label_id) for label_id in dict.fromkeys(label_ids)]
            old = list(card.label_ids)
            removed = [self.labels[lid] for lid in old if lid not in {lb.id for lb in wanted}]
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
        board = self.boards[card.board_id]
        data: JSON = {"idMember": member.id}
        if kind == "removeMemberFromCard":
            data["deactivated"] = False
        data.update(
            card=card_ref(card),
            board=board_ref(board),
            member={"id": member.id, "name": member.full_name},
        )
        self._record(kind, actor, board, data, card, subject=member)

    def add_card_member(self, card: Card, actor: Member, member: Member) -> None:
        with self.lock:
            if member.id in card.member_ids:
                raise BadRequest("member is already on the card")
            card.member_ids.append(member.id)
            self._member_action("addMemberToCard", card, actor, member)

    def remove_card_member(self, card: Card, actor: Member, member: Member) -> None:
        with self.lock:
            if member.id not in card.member_ids:
                raise NotFound("member is not on the card")
            card.member_ids.remove(member.id)
            self._member_action("removeMemberFromCard", card, actor, member)

    # -- comments ---------------------------------------------------------------------------

    def comment(self, card: Card, actor: Member, text: str) -> Action:
        with self.lock:
            if not text:
                raise BadRequest("invalid value for text")
            board, lst = self._card_context(card)
            data = {
                "text": text,
                "textData": {"emoji": {}},
                "card": card_ref(card),
                "board": board_ref(board),
                "list": list_ref(lst),
            }
            return self._record("commentCard", actor, board, data, card)

    def _comment(self, action_id: str) -> tuple[Action, Card]:
        action = self.action(action_id)
        if action.type != "commentCard" or action.card_id not in self.cards:
            raise NotFound()
        return action, self.cards[action.card_id]

    def edit_comment(self, action_id: str, actor: Member, text: str) -> Action:
        with self.lock:
            if not text:
                raise BadRequest("invalid value for text")
            action, card = self._comment(action_id)
            old = action.data["text"]
            action.data["text"] = text
            action.data["dateLastEdited"] = iso(self.clock())
            board = self.boards[card.board_id]
            data = {
                "action": {"id": action.id, "text": text},
                "card": card_ref(card),
                "board": board_ref(board),
                "old": {"text": old},
            }
            self._record("updateComment", actor, board, data, card)
            return action

    def delete_comment(self, action_id: str, actor: Member) -> None:
        with self.lock:
            action, card = self._comment(action_id)
            self.actions.remove(action)
            board = self.boards[card.board_id]
            data = {"action": {"id": action.id}, "card": card_ref(card), "board": board_ref(board)}
            self._record("deleteComment", actor, board, data, card)
