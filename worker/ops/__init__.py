"""The operator's commands: `check`, `setup` and `status`.

Each command reads what it needs (Trello, the template file, the database) into plain data,
then hands that to pure functions that decide what is wrong and what to say:

- `check` reads everything into a `Seen` and `check_rows` turns it into `Row`s (ok, warning,
  problem, not checked), each problem with one sentence saying how to fix it. Only problems
  make the exit code 1; a warning is worth reading but the worker runs.
- `setup` creates the labels `missing_labels` names, then lets the `Worker` make each board's
  template card when it is missing or stale (`Worker.start`). Run twice, it does nothing.
- `status` lists the open incidents from the store; `status_table` renders them. It writes to
  neither Trello nor the database, and when Trello cannot be reached it says so and shows
  board ids instead of names.

What lives where:

- `worker.ops.check`: `check`, what it reads (`Seen` and its parts), the rows it decides on and
  `run_check`.
- `worker.ops.setup`: `setup`, the labels it creates (`missing_labels`) and `run_setup`.
- `worker.ops.status`: `status`, its table of open incidents and `run_status`.
- `worker.ops.common`: what two of them share: `Wanted` (what the settings ask each board to
  have), `shown_url` (a database URL without its password) and `table_lines` (a plain-text
  table).

This package re-exports the names `worker.cli` and the tests use.
"""

from worker.ops.check import (
    BoardSeen,
    DatabaseSeen,
    Failed,
    Failure,
    MemberSeen,
    Row,
    Seen,
    Status,
    TemplateSeen,
    board_rows,
    check_rows,
    database_row,
    exit_code,
    expected_schema,
    failed,
    lists_row,
    render_check,
    run_check,
)
from worker.ops.common import Wanted, shown_url
from worker.ops.setup import missing_labels, run_setup
from worker.ops.status import (
    IncidentLine,
    format_age,
    overdue_reminders,
    run_status,
    status_table,
)

__all__ = [
    "BoardSeen",
    "DatabaseSeen",
    "Failed",
    "Failure",
    "IncidentLine",
    "MemberSeen",
    "Row",
    "Seen",
    "Status",
    "TemplateSeen",
    "Wanted",
    "board_rows",
    "check_rows",
    "database_row",
    "exit_code",
    "expected_schema",
    "failed",
    "format_age",
    "lists_row",
    "missing_labels",
    "overdue_reminders",
    "render_check",
    "run_check",
    "run_setup",
    "run_status",
    "shown_url",
    "status_table",
]
