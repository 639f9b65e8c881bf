"""Checklist and attachment writes, with the actions Trello records for them.

A checklist copied with `idChecklistSource` gets all the source's items, unticked; ticking an
item records `updateCheckItemStateOnCard` with `data.checkItem.state`.
"""

from __future__ import annotations

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


class ChecklistOps(Store):
    """Writes to checklists, check items and attachments."""

    # -- checklists -------------------------------------------------------------------------

    def _checklist_context(self, cl: Checklist) -> tuple[Card, Board]:
        card = self.cards[cl.card_id]
        return card, self.boards[card.board_id]

    def add_checklist(
        self,
        card: Card,
        actor: Member,
        name: str | None,
        pos: Any = None,
        source: Checklist | None = None,
    ) -> Checklist:
        with self.lock:
            title = name if name is not None else (source.name if source else "Checklist")
            cl = self._copy_checklist(card, source, title, pos, reset=True)
            board = self.boards[card.board_id]
            data = {
                "card": card_ref(card),
                "checklist": {"id": cl.id, "name": cl.name},
                "board": board_ref(board),
            }
            self._record("addChecklistToCard", actor, board, data, card)
            return cl

    def delete_checklist(self, cl: Checklist, actor: Member) -> None:
        with self.lock:
            card, board = self._checklist_context(cl)
            del self.checklists[cl.id]
            card.checklist_ids.remove(cl.id)
            data = {
                "card": card_ref(card),
                "board": board_ref(board),
                "checklist": {"id": cl.id, "name": cl.name},
            }
            self._record("removeChecklistFromCard", actor, board, data, card)

    def rename_checklist(self, cl: Checklist, actor: Member, name: str) -> Checklist:
        with self.lock:
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
                self._record("updateChecklist", actor, board, data, card)
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
        with self.lock:
            if not name:
                raise BadRequest("invalid value for name")
            item = CheckItem(
                self.ids.new_id(),
                cl.id,
                name,
                position(pos, [i.pos for i in cl.items]),
                "complete" if checked else "incomplete",
            )
            cl.items.append(item)
            card, board = self._checklist_context(cl)
            self._record("createCheckItem", actor, board, self._item_data(cl, item), card)
            return item

    def update_check_item(
        self, cl: Checklist, item: CheckItem, actor: Member, changes: dict[str, Any]
    ) -> CheckItem:
        """Apply `state` (complete|incomplete), `name`, `pos`, `due`, `idMember`."""
        with self.lock:
            card, board = self._checklist_context(cl)
            if "name" in changes and changes["name"] and changes["name"] != item.name:
                old, item.name = item.name, changes["name"]
                data = self._item_data(cl, item, old={"name": old})
                self._record("updateCheckItem", actor, board, data, card)
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
                self._record("updateCheckItemStateOnCard", actor, board, data, card)
            return item

    def delete_check_item(self, cl: Checklist, item: CheckItem, actor: Member) -> None:
        with self.lock:
            cl.items.remove(item)
            card, board = self._checklist_context(cl)
            self._record("deleteCheckItem", actor, board, self._item_data(cl, item), card)

    # -- attachments ------------------------------------------------------------------------

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
        with self.lock:
            if (url is None) == (content is None):
                raise BadRequest("give either a url or a file")
            att = Attachment(
                self.ids.new_id(),
                card.id,
                name or file_name or url or "file",
                url,
                self.clock(),
                actor.id,
                mime_type,
                content,
                file_name,
            )
            self.attachments[att.id] = att
            card.attachment_ids.append(att.id)
            board, lst = self._card_context(card)
            link = url or (
                f"https://trello.com/1/cards/{card.id}/attachments/{att.id}/download/{file_name}"
            )
            data = {
                "attachment": {"id": att.id, "name": att.name, "url": link},
                "card": card_ref(card),
                "list": list_ref(lst),
                "board": board_ref(board),
            }
            self._record("addAttachmentToCard", actor, board, data, card)
            return att

    def delete_attachment(self, card: Card, att: Attachment, actor: Member) -> None:
        with self.lock:
            card.attachment_ids.remove(att.id)
            del self.attachments[att.id]
            board = self.boards[card.board_id]
            data = {
                "attachment": {"id": att.id, "name": att.name},
                "card": card_ref(card),
                "board": board_ref(board),
            }
            self._record("deleteAttachmentFromCard", actor, board, data, card)
