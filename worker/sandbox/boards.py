"""Board writes: lists (create, archive) and labels, with the actions Trello records for them.

`BoardWrites` is handed the records (`store.Store`); each method takes the acting member and
holds the records' lock while it changes them and records the action.
"""

from __future__ import annotations

from typing import Any

from worker.sandbox.model import Board, Label, Member, TrelloList
from worker.sandbox.store import Store, board_ref, list_ref, position


class BoardWrites:
    """Writes to a board's lists and labels."""

    def __init__(self, records: Store):
        self.records = records

    def create_list(self, board: Board, actor: Member, name: str, pos: Any = None) -> TrelloList:
        with self.records.lock:
            taken = [lst.pos for lst in self.records.board_lists(board.id)]
            lst = TrelloList(self.records.ids.new_id(), board.id, name, position(pos, taken))
            self.records.lists[lst.id] = lst
            self.records.record(
                "createList", actor, board, {"list": list_ref(lst), "board": board_ref(board)}
            )
            return lst

    def set_list_closed(self, lst: TrelloList, actor: Member, closed: bool) -> TrelloList:
        with self.records.lock:
            if lst.closed != closed:
                old, lst.closed = lst.closed, closed
                board = self.records.boards[lst.board_id]
                data = {
                    "list": {"closed": closed, **list_ref(lst)},
                    "old": {"closed": old},
                    "board": board_ref(board),
                }
                self.records.record("updateList", actor, board, data)
            return lst

    def create_label(self, board: Board, actor: Member, name: str, color: str | None) -> Label:
        with self.records.lock:
            label = Label(self.records.ids.new_id(), board.id, name, color)
            self.records.labels[label.id] = label
            data = {
                "label": {"id": label.id, "name": name, "color": color},
                "board": board_ref(board),
            }
            self.records.record("createLabel", actor, board, data)
            return label
