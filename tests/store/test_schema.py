"""Schema migrations (Alembic), on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from tests import postgres
from tests.factories import ROOT
from worker.errors import ConfigError
from worker.store import schema
from worker.store.database import Store, metadata


@pytest.fixture(params=postgres.BACKENDS)
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of each kind."""
    with postgres.database(request.param, tmp_path, migrated=False) as url:
        yield url


@pytest.fixture
def empty_postgres(tmp_path: Path) -> Iterator[str]:
    with postgres.database("postgresql", tmp_path, migrated=False) as url:
        yield url


def test_the_revisions_make_exactly_the_tables_the_store_uses(empty: str) -> None:
    store = Store.connect(empty)
    try:
        before, after = schema.upgrade(store.engine)
        assert (before, after) == (None, schema.head())
        with store.engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert differences == []
    finally:
        store.close()


def test_migrating_twice_changes_nothing_the_second_time(empty: str) -> None:
    store = Store.connect(empty)
    try:
        schema.upgrade(store.engine)
        assert schema.upgrade(store.engine) == (schema.head(), schema.head())
    finally:
        store.close()


def test_a_database_made_before_revisions_existed_is_taken_up_with_its_data(empty: str) -> None:
    """The first schema, made as the worker once made it (no revision recorded), with a row."""
    store = Store.connect(empty)
    try:
        with store.engine.begin() as conn:
            command_upgrade_to(conn, schema.BASELINE)
            conn.execute(text("DROP TABLE alembic_version"))
            conn.execute(text("INSERT INTO cursors VALUES ('b1', 'a1', 'd1')"))
        assert schema.revision(store.engine).current == schema.BASELINE
        assert schema.upgrade(store.engine) == (schema.BASELINE, schema.head())
        assert store.cursors.get("b1") == ("a1", "d1")
        assert {"replicas", "leases"} <= set(inspect(store.engine).get_table_names())
    finally:
        store.close()


def test_the_worker_brings_a_sqlite_file_up_to_date_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/w.sqlite3"
    store = Store.connect(url)
    with store.engine.begin() as conn:
        command_upgrade_to(conn, schema.BASELINE)
    store.close()
    opened = Store.open(url)
    try:
        assert schema.revision(opened.engine).current == schema.head()
        assert not opened.created  # it had the first schema: not a new database
    finally:
        opened.close()


def test_incident_card_links_move_out_of_the_comments_claims(empty: str) -> None:
    """Revision 0003: links kept among the comments' claims (`incident-card:<id>`) move to
    their own table; the comments' claims stay."""
    store = Store.connect(empty)
    try:
        with store.engine.begin() as conn:
            command_upgrade_to(conn, "0002")
            for key, card, made in [
                ("incident-card:src1", "src1", "inc1"),
                ("c9:1:declared", "c9", "x"),
            ]:
                conn.execute(
                    text(
                        "INSERT INTO sent (key, card_id, state, comment_id, at, owner) "
                        "VALUES (:key, :card, 'sent', :made, CURRENT_TIMESTAMP, NULL)"
                    ),
                    {"key": key, "card": card, "made": made},
                )
        assert schema.upgrade(store.engine) == ("0002", schema.head())
        assert store.links.recorded("src1") == "inc1"
        assert store.claims.state("incident-card:src1") is None
        assert store.claims.recorded("c9:1:declared") == "x"
        assert store.links.recorded("c9:1:declared") is None
    finally:
        store.close()


def command_upgrade_to(conn: object, revision: str) -> None:
    from alembic import command

    config = schema._config(conn)  # type: ignore[arg-type]
    command.upgrade(config, revision)


def test_the_worker_refuses_a_postgresql_database_that_is_behind(empty_postgres: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Store.open(empty_postgres)
    message = str(caught.value)
    assert "INCIDENT_DATABASE_URL" in message and "is empty" in message
    assert "run `incident-worker migrate` first" in message
    store = Store.connect(empty_postgres)
    with store.engine.begin() as conn:
        command_upgrade_to(conn, schema.BASELINE)
    store.close()
    with pytest.raises(ConfigError, match=f"at schema revision {schema.BASELINE} and this worker"):
        Store.open(empty_postgres)


def test_a_newer_workers_revision_is_refused_by_name(empty: str) -> None:
    store = Store.connect(empty)
    schema.upgrade(store.engine)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    store.close()
    with pytest.raises(ConfigError, match="at schema revision 9999, which this worker does not"):
        Store.open(empty)


def migrate_env(url: str) -> dict[str, str]:
    return {
        "TRELLO_API_KEY": "k",
        "TRELLO_TOKEN": "t",
        "TRELLO_BOARD_ID": "b1",
        "INCIDENT_DATABASE_URL": url,
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
    }


def migrate_command(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", "migrate"],
        env=migrate_env(url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_migrate_command_says_what_it_did_then_that_there_was_nothing_to_do(
    empty_postgres: str, tmp_path: Path
) -> None:
    shown = empty_postgres  # the test server has no password to hide
    first = migrate_command(empty_postgres, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == (
        f"The database {shown} is now at schema revision {schema.head()} (was empty)."
    )
    second = migrate_command(empty_postgres, tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == (
        f"The database {shown} is at the current schema (revision {schema.head()})."
    )
    opened = Store.open(empty_postgres)
    assert opened.created  # migrated, but no worker has run on it yet
    opened.close()


def test_migrate_names_a_database_it_cannot_reach(tmp_path: Path) -> None:
    result = migrate_command("postgresql+psycopg://iw:secret-pw@127.0.0.1:9/none", tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("incident-worker: INCIDENT_DATABASE_URL cannot be opened")
    assert "secret-pw" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_two_migrate_commands_at_once_both_succeed_and_apply_each_revision_once(
    empty_postgres: str, tmp_path: Path
) -> None:
    env = migrate_env(empty_postgres)
    both = [
        subprocess.Popen(
            [sys.executable, "-m", "worker", "migrate"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for process in both:
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
    store = Store.open(empty_postgres)  # at head, or this refuses
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).all() == [
                (schema.head(),)
            ]
    finally:
        store.close()


def test_check_reads_a_postgresql_databases_revision_without_changing_it(
    empty_postgres: str,
) -> None:
    from worker.ops.check import _look_at_database, database_row, expected_schema

    seen = _look_at_database(empty_postgres)
    assert (seen.revision, seen.head, seen.error) == (None, schema.head(), "")
    row = database_row(seen, expected_schema())
    assert row.status.name == "PROBLEM" and "incident-worker migrate" in row.fixes[0]
    assert _look_at_database(empty_postgres).revision is None  # looking migrated nothing

    store = Store.connect(empty_postgres)
    schema.upgrade(store.engine)
    store.close()
    row = database_row(_look_at_database(empty_postgres), expected_schema())
    assert row.status.name == "OK" and f"schema revision {schema.head()}" in row.detail
