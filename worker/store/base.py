"""What the store's parts need of the store: a transaction, the one clock, the replica.

`Store` (`worker.store.database`) provides it; its parts (`records`, `claims`, `replicas`)
are handed the store and see it through this protocol only.
"""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class Replica:
    """This worker process among those sharing the database: its claims and leases carry it."""

    id: str
    name: str
    #: how long its leases last without a heartbeat (INCIDENT_LEASE_SECONDS)
    lease_seconds: float

    @classmethod
    def new(cls, lease_seconds: float = 30.0, name: str | None = None) -> Replica:
        """A new identity: this host and process, and a random part (a restart is a new one)."""
        name = name or f"{socket.gethostname()} pid {os.getpid()}"
        return cls(f"{name} {uuid.uuid4().hex[:8]}", name, lease_seconds)


class Database(Protocol):
    replica: Replica

    def tx(self) -> AbstractContextManager[Connection]:
        """One transaction; `DatabaseUnavailable` when the database cannot be reached."""
        ...

    def now(self, conn: Connection) -> datetime:
        """The time every record is stamped with."""
        ...


def aware(moment: datetime) -> datetime:
    """SQLite gives its times back without a zone; they are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
