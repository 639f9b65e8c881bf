"""Trello's budget shared by replicas: a second of the database's clock holds `PER_SLOT`
requests of every replica together, on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, func, select

from worker.errors import DatabaseUnavailable
from worker.store.budget import KEPT_SLOTS, PER_SLOT, Budget
from worker.store.database import Store
from worker.store.tables import budget

T0 = datetime(2026, 3, 2, 9, 0, 0, 250000, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_three_replicas_claiming_at_once_get_one_seconds_share_between_them(url: str) -> None:
    clock = Clock()
    stores = [Store.open(url, clock=clock) for _ in range(3)]
    try:
        barrier = threading.Barrier(3)
        answers: list[list[float]] = [[], [], []]
        errors: list[BaseException] = []

        def claim(n: int) -> None:
            try:
                barrier.wait(timeout=10)
                answers[n] = [stores[n].budget.claim() for _ in range(5)]
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        every = [a for side in answers for a in side]
        assert every.count(0.0) == PER_SLOT  # 15 asked, 8 went
        assert sorted(set(every)) == [0.0, pytest.approx(0.75)]  # the rest wait for the next
        clock.now += timedelta(seconds=1)
        assert [store.budget.claim() for store in stores] == [0.0, 0.0, 0.0]
    finally:
        for store in stores:
            store.close()


def test_seconds_older_than_a_minute_are_forgotten(url: str) -> None:
    clock = Clock()
    store = Store.open(url, clock=clock)
    try:
        forgotten(store, clock)
    finally:
        store.close()


def forgotten(store: Store, clock: Clock) -> None:

    def rows() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(budget)).scalar_one())

    for _ in range(3):
        assert store.budget.claim() == 0.0
        clock.now += timedelta(seconds=1)
    assert rows() == 3
    clock.now += timedelta(seconds=KEPT_SLOTS + 2)
    assert store.budget.claim() == 0.0
    assert rows() == 1


class Unreachable:
    clock = None

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        raise DatabaseUnavailable("The database (INCIDENT_DATABASE_URL) cannot be reached")
        yield  # pragma: no cover

    def now(self, conn: Connection) -> datetime:  # pragma: no cover
        return T0


def test_an_unreachable_database_lets_requests_go_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shared = Budget(Unreachable())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="worker.store.budget"):
        assert [shared.claim() for _ in range(3)] == [0.0, 0.0, 0.0]
    (said,) = [r.getMessage() for r in caplog.records]
    assert "cannot be claimed now" in said and "INCIDENT_DATABASE_URL" in said
