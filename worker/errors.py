"""The exceptions incident-worker raises, in one place.

    IncidentWorkerError
     ├── ConfigError            a setting, the template or a file is wrong; the message names it
     ├── AlreadyRunning         another worker holds the database file
     ├── BoardKeptElsewhere     another worker, with a database of its own, keeps a board
     ├── DatabaseUnavailable    the database cannot be reached (or answered with an error)
     ├── PictureError           the post mortem's timeline picture could not be drawn
     └── TrelloError            a request to Trello failed; the message names the request
          ├── AuthError           401: the API key or token was refused
          ├── NotFoundError       404: a board, list, card or checklist that does not exist
          ├── RequestRejected     any other 4xx: Trello refused what was asked
          └── TrelloUnavailable   429, 5xx, timeouts or dropped connections, after the retries

No message ever carries the API key or token: requests send them in a header, never in the URL,
and every message built from a response is passed through `redact` first.
"""

from __future__ import annotations


class IncidentWorkerError(Exception):
    """Base class: anything incident-worker raises on purpose."""


class ConfigError(IncidentWorkerError):
    """A setting, the template or another input file is wrong; the message says which and how."""


class AlreadyRunning(IncidentWorkerError):
    """Another worker process is using the same SQLite file."""


class BoardKeptElsewhere(IncidentWorkerError):
    """Another worker, with a database of its own, keeps the board; the message names it."""


class DatabaseUnavailable(IncidentWorkerError):
    """The database at INCIDENT_DATABASE_URL cannot be reached now; the message names it."""


class PictureError(IncidentWorkerError):
    """Drawing the timeline picture failed (its process exited or printed no PNG)."""


class TrelloError(IncidentWorkerError):
    """A request to Trello failed."""

    def __init__(
        self, message: str, *, method: str = "", path: str = "", status: int | None = None
    ):
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status


class AuthError(TrelloError):
    """Trello answered 401: the key or token is wrong, expired or revoked."""


class NotFoundError(TrelloError):
    """Trello answered 404: the id does not exist or the token cannot see it."""


class RequestRejected(TrelloError):
    """Trello answered another 4xx: the request itself was refused."""


class TrelloUnavailable(TrelloError):
    """Trello kept failing (429, 5xx, timeouts, dropped connections) after every retry.

    `applied_unknown` is true when a non-idempotent request (a POST) may have reached Trello
    before it failed: the caller must look before sending it again.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        applied_unknown: bool = False,
    ):
        super().__init__(message, method=method, path=path, status=status)
        self.applied_unknown = applied_unknown
