"""Checklist and attachment writes, with the actions Trello records for them.

`ChecklistWrites` is handed the records (`store.Store`); each method takes the acting member
and holds the records' lock while it changes them and records the action. A checklist copied
with `idChecklistSource` gets all the source's items, unticked; ticking an item records
`updateCheckItemStateOnCard` with `data.checkItem.state`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from worker.sandbox.model import (
    Attachment,
    Board,
    Card,
    CheckItem,
    Checklist,
    Member,
)
from worker.sandbox.store import (
    JSON,
    BadRequest,
    Store,
    board_ref,
    card_ref,
    item_ref,
    list_ref,
    position,
)


class ChecklistWrites:
    """Writes to checklists, check items and attachments."""

    def __init__(self, records: Store):
        self.records = records

    # -- checklists -------------------------------------------------------------------------

    def copy_checklist(
        self, card: Card, source: Checklist | None, name: str, pos: Any, *, reset: bool
    ) -> Checklist:
        """Put a new checklist with `source`'s items (unticked if `reset`) on `card`, recording
        nothing: the caller records the action its change makes."""
        with self.records.lock:
            taken = [self.records.checklists[cid].pos for cid in card.checklist_ids]
            cl = Checklist(
                self.records.ids.new_id(), card.board_id, card.id, name, position(pos, taken)
            )
            for item in source.items if source else []:
                cl.items.append(
                    CheckItem(
                        self.records.ids.new_id(),
                        cl.id,
                        item.name,
                        item.pos,
                        "incomplete" if reset else item.state,
                        item.due,
                        item.id_member,
                    )
                )
            self.records.checklists[cl.id] = cl
            card.checklist_ids.append(cl.id)
            return cl

    def _checklist_context(self, cl: Checklist) -> tuple[Card, Board]:
        card = self.records.cards[cl.card_id]
        return card, self.records.boards[card.board_id]

    def add_checklist(
        self,
        card: Card,
        actor: Member,
        name: str | None,
        pos: Any = None,
        source: Checklist | None = None,
    ) -> Checklist:
        with self.records.lock:
            title = name if name is not None else (source.name if source else "Checklist")
            cl = self.copy_checklist(card, source, title, pos, reset=True)
            board = self.records.boards[card.board_id]
            data = {
                "card": card_ref(card),
                "checklist": {"id": cl.id, "name": cl.name},
                "board": board_ref(board),
            }
            self.records.record("addChecklistToCard", actor, board, data, card)
            return cl

    def delete_checklist(self, cl: Checklist, actor: Member) -> None:
        with self.records.lock:
            card, board = self._checklist_context(cl)
            del self.records.checklists[cl.id]
            card.checklist_ids.remove(cl.id)
            data = {
                "card": card_ref(card),
                "board": board_ref(board),
                "checklist": {"id": cl.id, "name": cl.name},
            }
            self.records.record("removeChecklistFromCard", actor, board, data, card)

    def rename_checklist(self, cl: Checklist, actor: Member, name: str) -> Checklist:
        with self.records.lock:
            if not name:
                raise BadRequest("invalid value for value")
            if name != cl.name:
                card, board = self._checklist_context(cl)
                old, cl.name = cl.name, name
                data = {
                    "checklist": {"id": cl.id, "name": name},
                    "card": card_ref(card),
                    "board": board_ref(board),
                    "old": {"name": old},
                }
                self.records.record("updateChecklist", actor, board, data, card)
            return cl

    def _item_data(self, cl: Checklist, item: CheckItem, **extra: Any) -> JSON:
        card, board = self._checklist_context(cl)
        return {
            "checkItem": item_ref(item),
            "checklist": {"id": cl.id, "name": cl.name},
            "card": card_ref(card),
            "board": board_ref(board),
            **extra,
        }

    def add_check_item(
        self, cl: Checklist, actor: Member, name: str, pos: Any = None, checked: bool = False
    ) -> CheckItem:
        with self.records.lock:
            if not name:
                raise BadRequest("invalid value for name")
            item = CheckItem(
                self.records.ids.new_id(),
                cl.id,
                name,
                position(pos, [i.pos for i in cl.items]),
                "complete" if checked else "incomplete",
            )
            cl.items.append(item)
            card, board = self._checklist_context(cl)
            self.records.record("createCheckItem", actor, board, self._item_data(cl, item), card)
            return item

    def update_check_item(
        self, cl: Checklist, item: CheckItem, actor: Member, changes: dict[str, Any]
    ) -> CheckItem:
        """Apply `state` (complete|incomplete), `name`, `pos`, `due`, `idMember`."""
        with self.records.lock:
            card, board = self._checklist_context(cl)
            if "name" in changes and changes["name"] and changes["name"] != item.name:
                old, item.name = item.name, changes["name"]
                data = self._item_data(cl, item, old={"name": old})
                self.records.record("updateCheckItem", actor, board, data, card)
            if "pos" in changes:
                item.pos = position(changes["pos"], [i.pos for i in cl.items if i is not item])
            if "due" in changes:
                item.due = changes["due"]
            if "idMember" in changes:
                item.id_member = changes["idMember"]
            state = changes.get("state")
            if state is not None and state != item.state:
                item.state = state
                data = {
                    "board": board_ref(board),
                    "card": card_ref(card),
                    "checklist": {"id": cl.id, "name": cl.name},
                    "checkItem": item_ref(item),
                }
                self.records.record("updateCheckItemStateOnCard", actor, board, data, card)
            return item

    def delete_check_item(self, cl: Checklist, item: CheckItem, actor: Member) -> None:
        with self.records.lock:
            cl.items.remove(item)
            card, board = self._checklist_context(cl)
            self.records.record("deleteCheckItem", actor, board, self._item_data(cl, item), card)

    # -- attachments ------------------------------------------------------------------------

    def copy_attachments(self, source: Card, card: Card, actor: Member, now: datetime) -> None:
        """Put copies of `source`'s attachments on `card`, added by `actor` at `now`, recording
        nothing: the caller records the copy of the card."""
        with self.records.lock:
            for att_id in source.attachment_ids:
                att = self.records.attachments[att_id]
                copied = Attachment(
                    self.records.ids.new_id(),
                    card.id,
                    att.name,
                    att.url,
                    now,
                    actor.id,
                    att.mime_type,
                    att.content,
                    att.file_name,
                )
                self.records.attachments[copied.id] = copied
                card.attachment_ids.append(copied.id)

    def add_attachment(
        self,
        card: Card,
        actor: Member,
        *,
        name: str | None,
        url: str | None,
        mime_type: str | None = None,
        content: bytes | None = None,
        file_name: str = "",
    ) -> Attachment:
        with self.records.lock:
            if (url is None) == (content is None):
                raise BadRequest("give either a url or a file")
            att = Attachment(
                self.records.ids.new_id(),
                card.id,
                name or file_name or url or "file",
                url,
                self.records.clock(),
                actor.id,
                mime_type,
                content,
                file_name,
            )
            self.records.attachments[att.id] = att
            card.attachment_ids.append(att.id)
            board, lst = self.records.card_context(card)
            link = url or (
                f"https://trello.com/1/cards/{card.id}/attachments/{att.id}/download/{file_name}"
            )
            data = {
                "attachment": {"id": att.id, "name": att.name, "url": link},
                "card": card_ref(card),
                "list": list_ref(lst),
                "board": board_ref(board),
            }
            self.records.record("addAttachmentToCard", actor, board, data, card)
            return att

    def delete_attachment(self, card: Card, att: Attachment, actor: Member) -> None:
        with self.records.lock:
            card.attachment_ids.remove(att.id)
            del self.records.attachments[att.id]
            board = self.records.boards[card.board_id]
            data = {
                "attachment": {"id": att.id, "name": att.name},
                "card": card_ref(card),
                "board": board_ref(board),
            }
            self.records.record("deleteAttachmentFromCard", actor, board, data, card)
