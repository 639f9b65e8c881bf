"""Incidents, feed cursors, template cards, the actions handled and the database's own id.

Each method is one short transaction, stamped with the store's one clock (`Store.now`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from worker.core.model import Incident
from worker.store.base import Database
from worker.store.tables import cursors, handled, identity, incidents, template_cards


class Incidents:
    """One row per incident card: the `Incident` as JSON, and its board and whether open."""

    def __init__(self, store: Database):
        self.store = store

    def get(self, card_id: str) -> Incident | None:
        with self.store.tx() as conn:
            row = conn.execute(
                select(incidents.c.state).where(incidents.c.card_id == card_id)
            ).first()
        return Incident.model_validate_json(row[0]) if row else None

    def open(self, board_id: str | None = None) -> list[Incident]:
        """The open incidents (of one board, or of all), by card id."""
        query = select(incidents.c.state).where(incidents.c.open.is_(True))
        if board_id is not None:
            query = query.where(incidents.c.board_id == board_id)
        with self.store.tx() as conn:
            rows = conn.execute(query.order_by(incidents.c.card_id)).all()
        return [Incident.model_validate_json(row[0]) for row in rows]

    def with_open_followups(self, board_id: str | None = None) -> list[Incident]:
        """The incidents (open or not) with a follow-up still to be done, by card id."""
        query = select(incidents.c.state).where(incidents.c.followups_open.is_(True))
        if board_id is not None:
            query = query.where(incidents.c.board_id == board_id)
        with self.store.tx() as conn:
            rows = conn.execute(query.order_by(incidents.c.card_id)).all()
        return [Incident.model_validate_json(row[0]) for row in rows]

    def all(self) -> list[Incident]:
        with self.store.tx() as conn:
            rows = conn.execute(select(incidents.c.state).order_by(incidents.c.card_id)).all()
        return [Incident.model_validate_json(row[0]) for row in rows]

    def save(self, incident: Incident) -> None:
        with self.store.tx() as conn:
            values = {
                "board_id": incident.board_id,
                "open": incident.open,
                "followups_open": incident.followups_open,
                "state": incident.model_dump_json(),
                "updated_at": self.store.now(conn),
            }
            done = conn.execute(
                incidents.update().where(incidents.c.card_id == incident.card_id).values(values)
            )
            if done.rowcount == 0:
                conn.execute(incidents.insert().values(card_id=incident.card_id, **values))


class Cursors:
    """Per board, the newest action handled: the feed is read from there."""

    def __init__(self, store: Database):
        self.store = store

    def get(self, board_id: str) -> tuple[str, str] | None:
        """(action id, action date) of the newest handled action on the board."""
        with self.store.tx() as conn:
            row = conn.execute(
                select(cursors.c.action_id, cursors.c.action_date).where(
                    cursors.c.board_id == board_id
                )
            ).first()
        return (row[0], row[1]) if row else None

    def set(self, board_id: str, action_id: str, action_date: str) -> None:
        with self.store.tx() as conn:
            done = conn.execute(
                cursors.update()
                .where(cursors.c.board_id == board_id)
                .values(action_id=action_id, action_date=action_date)
            )
            if done.rowcount == 0:
                conn.execute(
                    cursors.insert().values(
                        board_id=board_id, action_id=action_id, action_date=action_date
                    )
                )

    def any(self) -> bool:
        """Whether any board has a cursor (a worker has used this database)."""
        with self.store.tx() as conn:
            return conn.execute(select(cursors.c.board_id).limit(1)).first() is not None


class Handled:
    """The actions handled lately, so one delivered by a webhook and read from the feed is
    handled once."""

    def __init__(self, store: Database):
        self.store = store

    def seen(self, action_id: str) -> bool:
        with self.store.tx() as conn:
            row = conn.execute(
                select(handled.c.action_id).where(handled.c.action_id == action_id)
            ).first()
        return row is not None

    def mark(self, action_id: str) -> None:
        try:
            with self.store.tx() as conn:
                conn.execute(handled.insert().values(action_id=action_id, at=self.store.now(conn)))
        except IntegrityError:
            pass

    def forget(self, older_than: timedelta) -> None:
        """Old actions never come again (the feed's cursor is past them): keep the table small."""
        with self.store.tx() as conn:
            conn.execute(handled.delete().where(handled.c.at < self.store.now(conn) - older_than))


@dataclass(frozen=True)
class TemplateCard:
    board_id: str
    version: str
    card_id: str
    checklists: dict[str, str]


class TemplateCardRows:
    """Per board, the archived card holding the template's checklists."""

    def __init__(self, store: Database):
        self.store = store

    def get(self, board_id: str) -> TemplateCard | None:
        with self.store.tx() as conn:
            row = conn.execute(
                select(template_cards).where(template_cards.c.board_id == board_id)
            ).first()
        if row is None:
            return None
        return TemplateCard(row.board_id, row.version, row.card_id, json.loads(row.checklists))

    def of_version(self, version: str) -> list[TemplateCard]:
        """Every board's card holding this template version (to copy from)."""
        with self.store.tx() as conn:
            rows = conn.execute(
                select(template_cards).where(template_cards.c.version == version)
            ).all()
        return [
            TemplateCard(row.board_id, row.version, row.card_id, json.loads(row.checklists))
            for row in rows
        ]

    def save(self, card: TemplateCard) -> None:
        with self.store.tx() as conn:
            conn.execute(template_cards.delete().where(template_cards.c.board_id == card.board_id))
            conn.execute(
                template_cards.insert().values(
                    board_id=card.board_id,
                    version=card.version,
                    card_id=card.card_id,
                    checklists=json.dumps(card.checklists),
                )
            )


class Identity:
    """The database's own id, made at random the first time it is asked for."""

    def __init__(self, store: Database):
        self.store = store
        self._id: str | None = None

    def get(self) -> str:
        if self._id is None:
            self._id = self._read() or self._make()
        return self._id

    def _read(self) -> str | None:
        with self.store.tx() as conn:
            row = conn.execute(
                select(identity.c.value).where(identity.c.name == "database")
            ).first()
        return str(row[0]) if row else None

    def _make(self) -> str:
        made = uuid.uuid4().hex[:12]
        try:
            with self.store.tx() as conn:
                conn.execute(
                    identity.insert().values(name="database", value=made, at=self.store.now(conn))
                )
        except IntegrityError:  # another replica made it first: theirs is the one
            return self._read() or made
        return made
