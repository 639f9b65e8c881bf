"""The tables the queries use; a test holds them equal to what the Alembic revisions make.

- `incidents`: one row per incident card, the `Incident` model as JSON plus the columns the
  loop queries by (board, open, whether a follow-up of it is still to be done).
- `cursors`: per board, the newest action the worker has handled; the feed is read from there.
- `sent`: every comment the worker posts, by idempotency key, with its state (`sending`, then
  `sent`), the comment's id and the replica that claimed it.
- `links`: the incident card made for each labelled card, claimed the same way (a card made
  once, whatever fails).
- `handled`: the actions handled lately, by id, so that an action both delivered by a webhook
  and read from the feed is handled once.
- `template_cards`: per board, the archived card that holds the template's checklists, its
  template version and its checklists' ids by name.
- `replicas` and `leases`: the worker processes sharing the database, when each was last seen,
  and which one holds which board.
- `outbox`: each message to a channel of people (`/tell`): its text, its state (`pending`,
  `sent`, `failed`), how many tries and when the next is due; one row per message and channel,
  keyed by both, so a message is queued once however often it is asked for.
- `budget`: Trello's request budget shared by replicas: per second of the database's clock,
  how many requests they have claimed together.
- `identity`: the database's own id (made once, at random), which the claims on the boards'
  template cards carry, so that workers sharing it are told apart from another database's.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

incidents = Table(
    "incidents",
    metadata,
    Column("card_id", String(64), primary_key=True),
    Column("board_id", String(64), nullable=False, index=True),
    Column("open", Boolean, nullable=False, index=True),
    Column("followups_open", Boolean, nullable=False, index=True, server_default=false()),
    Column("state", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

cursors = Table(
    "cursors",
    metadata,
    Column("board_id", String(64), primary_key=True),
    Column("action_id", String(64), nullable=False),
    Column("action_date", String(40), nullable=False),
)


def claim_table(name: str, key_length: int) -> Table:
    """A table of claims: a key, what it is for, its state, what it recorded, who claimed it."""
    return Table(
        name,
        metadata,
        Column("key", String(key_length), primary_key=True),
        Column("card_id", String(64), nullable=False, index=True),
        Column("state", String(16), nullable=False),
        Column("comment_id", String(64)),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("owner", String(128)),
    )


#: comments: `comment_id` is the posted comment's id
sent = claim_table("sent", 255)
#: incident cards: the key is the labelled card's id, `comment_id` the incident card's id
links = claim_table("links", 64)

handled = Table(
    "handled",
    metadata,
    Column("action_id", String(64), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
)

template_cards = Table(
    "template_cards",
    metadata,
    Column("board_id", String(64), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("card_id", String(64), nullable=False),
    Column("checklists", Text, nullable=False),
)

replicas = Table(
    "replicas",
    metadata,
    Column("replica_id", String(128), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("unit", String(128), primary_key=True),
    Column("holder", String(128), nullable=False, index=True),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

budget = Table(
    "budget",
    metadata,
    Column("slot", BigInteger, primary_key=True, autoincrement=False),
    Column("used", Integer, nullable=False),
)

identity = Table(
    "identity",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("message", String(255), nullable=False, index=True),
    Column("card_id", String(64), nullable=False),
    Column("audience", String(64), nullable=False),
    Column("channel", Integer, nullable=False),
    Column("scheme", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=False, index=True),
    Column("error", Text),
    Column("made_at", DateTime(timezone=True), nullable=False),
)
