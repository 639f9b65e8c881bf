"""The store's fixtures: each test on a real SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import postgres
from worker.store.database import Store

StoreFactory = Callable[[], Store]


@pytest.fixture(params=postgres.BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test runs on a SQLite file and on a fresh PostgreSQL database."""
    with postgres.database(request.param, tmp_path) as database:
        yield database


@pytest.fixture
def open_store(url: str) -> Iterator[StoreFactory]:
    """`open_store()`: a Store on this test's file (a new one each call); all closed after."""
    opened: list[Store] = []

    def make() -> Store:
        store = Store.open(url)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
