"""Settings: read once (environment, `.env`, or `--set NAME=VALUE` flags), then passed down.

Trello's own settings keep Trello's names (`TRELLO_API_KEY`, `TRELLO_TOKEN`, `TRELLO_BOARD_ID`,
`TRELLO_API_URL`); everything of ours is prefixed `INCIDENT_`. Every field is declared with its
full variable name, so the name a person types is the name every error message uses.

`load_settings` turns pydantic's validation errors into one plain sentence per problem, naming
the variable and never echoing a secret's value.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from worker.core.model import Policy, name_key
from worker.errors import ConfigError
from worker.template import Template

logger = logging.getLogger(__name__)
_T = TypeVar("_T")

SECRET_SETTINGS = frozenset(
    {
        "TRELLO_API_KEY",
        "TRELLO_TOKEN",
        "TRELLO_APP_SECRET",
        "INCIDENT_CHANNELS",
        "INCIDENT_OUTBOUND_URLS",
        "INCIDENT_OUTBOUND_SECRET",
        "INCIDENT_WEB_PASSWORD",
    }
)

#: How often the communicator is reminded of an unticked communication item, when neither
#: INCIDENT_REMINDER_SECONDS nor the template's front matter says.
DEFAULT_REMINDER_SECONDS = 900.0
#: How long the incident may go without a person's comment before the lead is asked for a status
#: update, when neither INCIDENT_STATUS_UPDATE_SECONDS nor the template says.
DEFAULT_STATUS_UPDATE_SECONDS = 1800.0
#: How often the worker asks for a lead and a communicator while there is none, when neither
#: INCIDENT_ROLE_REMINDER_SECONDS nor the template says.
DEFAULT_ROLE_REMINDER_SECONDS = 300.0
#: The longest wait between two reminders of one kind: each wait doubles the last, up to this,
#: when neither INCIDENT_REMINDER_MAX_SECONDS nor the template says.
DEFAULT_REMINDER_MAX_SECONDS = 3600.0
#: How many unanswered reminders about one message bring in the lead (then, if the template
#: says `escalate_to_board: true`, the whole board), when neither INCIDENT_ESCALATE_AFTER nor
#: the template says. 0: never.
DEFAULT_ESCALATE_AFTER = 3


def default_database_url() -> str:
    """Where the worker keeps its state unless INCIDENT_DATABASE_URL says otherwise: a file in
    the user's state folder (`~/.local/state/incident-worker/` on Linux), whatever folder the
    worker is started from, so two runs from two folders are one worker's, not two."""
    folder = platformdirs.user_state_path("incident-worker")
    return f"sqlite:///{folder / 'incident-worker.sqlite3'}"


def _setting(name: str, default: Any = ..., **constraints: Any) -> Any:
    return Field(default, validation_alias=name, **constraints)


#: The longest any interval may be: a month.
MAX_SECONDS = 30 * 24 * 3600


def _seconds(name: str, default: float | None, least: float = 0.5) -> Any:
    """A finite number of seconds, from `least` (no polling every microsecond) to a month."""
    return _setting(name, default, ge=least, le=MAX_SECONDS, allow_inf_nan=False)


class Settings(BaseSettings):
    """Everything the worker can be told. Build it with `load_settings`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        case_sensitive=True,
    )

    trello_api_key: SecretStr = _setting("TRELLO_API_KEY")
    trello_token: SecretStr = _setting("TRELLO_TOKEN")
    trello_board_ids: Annotated[list[str], NoDecode] = _setting("TRELLO_BOARD_ID")
    trello_api_url: str = _setting("TRELLO_API_URL", "https://api.trello.com/1")
    trello_app_secret: SecretStr | None = _setting("TRELLO_APP_SECRET", None)

    rate_limit: int = _setting("INCIDENT_RATE_LIMIT", 100, gt=0)
    rate_window_seconds: float = _seconds("INCIDENT_RATE_WINDOW_SECONDS", 10.0, least=1)
    http_timeout_seconds: float = _seconds("INCIDENT_HTTP_TIMEOUT_SECONDS", 15.0, least=0.1)
    retry_attempts: int = _setting("INCIDENT_RETRY_ATTEMPTS", 5, ge=1, le=20)
    poll_seconds: float = _seconds("INCIDENT_POLL_SECONDS", 20.0, least=0.1)
    reconcile_seconds: float = _seconds("INCIDENT_RECONCILE_SECONDS", 300.0, least=1)

    database_url: str = Field(
        default_factory=default_database_url, validation_alias="INCIDENT_DATABASE_URL"
    )
    #: how long a replica's hold on a board lasts without a heartbeat (see worker.leases)
    lease_seconds: float = _seconds("INCIDENT_LEASE_SECONDS", 30.0, least=3)
    template_path: Path | None = _setting("INCIDENT_TEMPLATE", None)
    incident_label: str = _setting("INCIDENT_LABEL", "Incident", min_length=1)
    workaround_label: str = _setting("INCIDENT_WORKAROUND_LABEL", "Workaround", min_length=1)
    resolved_label: str = _setting("INCIDENT_RESOLVED_LABEL", "Resolved", min_length=1)
    resolved_lists: Annotated[list[str], NoDecode] = _setting(
        "INCIDENT_RESOLVED_LISTS", ["Done", "Resolved"]
    )
    meeting_url: str | None = _setting("INCIDENT_MEETING_URL", None)
    #: Cadences. Unset means: the template's front matter, else the built-in default.
    reminder_seconds: float | None = _seconds("INCIDENT_REMINDER_SECONDS", None)
    status_update_seconds: float | None = _seconds("INCIDENT_STATUS_UPDATE_SECONDS", None)
    role_reminder_seconds: float | None = _seconds("INCIDENT_ROLE_REMINDER_SECONDS", None)
    reminder_max_seconds: float | None = _seconds("INCIDENT_REMINDER_MAX_SECONDS", None)
    escalate_after: int | None = _setting("INCIDENT_ESCALATE_AFTER", None, ge=0, le=1000)
    postmortem_days: int = _setting("INCIDENT_POSTMORTEM_DAYS", 2, ge=0, le=60)
    postmortem_attendees: Annotated[list[str], NoDecode] = _setting(
        "INCIDENT_POSTMORTEM_ATTENDEES", []
    )
    postmortem_facilitator: str | None = _setting("INCIDENT_POSTMORTEM_FACILITATOR", None)
    timezone: str = _setting("INCIDENT_TIMEZONE", "UTC")
    template_url: str | None = _setting("INCIDENT_TEMPLATE_URL", None)
    incident_board_id: str | None = _setting("INCIDENT_BOARD_ID", None)
    incident_list: str | None = _setting("INCIDENT_LIST", None)
    #: Follow-ups: the list their cards go to, on the incident's board or on this board; and
    #: how many business days each gets until it is due.
    followup_list: str = _setting("INCIDENT_FOLLOWUP_LIST", "Follow-ups", min_length=1)
    followup_board_id: str | None = _setting("INCIDENT_FOLLOWUP_BOARD_ID", None)
    followup_days: int = _setting("INCIDENT_FOLLOWUP_DAYS", 10, ge=1, le=260)
    webhook: bool = _setting("INCIDENT_WEBHOOK", False)
    webhook_listen: str = _setting("INCIDENT_WEBHOOK_LISTEN", "127.0.0.1:8080")
    webhook_callback_url: str | None = _setting("INCIDENT_WEBHOOK_CALLBACK_URL", None)
    #: with webhooks, the feed is still read at this slower cadence, as the safety net
    webhook_poll_seconds: float = _seconds("INCIDENT_WEBHOOK_POLL_SECONDS", 120.0, least=0.1)
    #: whether /healthz names the boards and when each feed was last read
    health_shows_boards: bool = _setting("INCIDENT_HEALTH_SHOWS_BOARDS", False)
    #: each audience's channels: Apprise URLs (secrets: never shown beyond their scheme)
    channels: Annotated[dict[str, list[SecretStr]], NoDecode] = _setting("INCIDENT_CHANNELS", {})
    #: the audiences told automatically when an incident is declared and when it is resolved
    announce: Annotated[list[str], NoDecode] = _setting("INCIDENT_ANNOUNCE", [])
    #: where each incident event is POSTed, signed per Standard Webhooks with the secret
    outbound_urls: Annotated[list[SecretStr], NoDecode] = _setting("INCIDENT_OUTBOUND_URLS", [])
    outbound_secret: SecretStr | None = _setting("INCIDENT_OUTBOUND_SECRET", None)
    #: the overview pages (incidents, insights, metrics): where they are served (off when
    #: unset), and the password they ask for (required beyond loopback)
    web_listen: str | None = _setting("INCIDENT_WEB_LISTEN", None)
    web_password: SecretStr | None = _setting("INCIDENT_WEB_PASSWORD", None)

    @field_validator("trello_api_key", "trello_token")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is not set: put it in the environment or in .env")
        return value

    @field_validator("resolved_lists", mode="before")
    @classmethod
    def _split_lists(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _read_channels(cls, value: Any) -> Any:
        """A JSON object from an audience's short name to a list of Apprise URLs."""
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError(
                    'must be a JSON object, e.g. {"support": ["mailto://..."]}'
                ) from None
        if not isinstance(value, dict):
            raise ValueError('must be a JSON object, e.g. {"support": ["mailto://..."]}')
        for audience, urls in value.items():
            if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
                raise ValueError(f"must give a list of URLs for '{audience}'")
            for n, url in enumerate(urls, start=1):
                if not channel_known(url):
                    scheme = url.split("://", 1)[0][:20] if "://" in url else "no scheme"
                    raise ValueError(
                        f"has a channel Apprise does not know for '{audience}' (channel {n}, "
                        f"{scheme})"
                    )
        return value

    @field_validator("outbound_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for n, url in enumerate(value or [], start=1):
            text = url.get_secret_value() if isinstance(url, SecretStr) else str(url)
            if urlsplit(text).scheme not in ("http", "https") or not urlsplit(text).netloc:
                raise ValueError(f"has a URL that is not http(s) (the {n}. one)")
        return value

    @field_validator("outbound_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return value
        from standardwebhooks import Webhook

        try:
            Webhook(value.get_secret_value())
        except Exception:  # the library's own error says more than we may show
            raise ValueError(
                "is not a Standard Webhooks secret (base64, optionally after whsec_)"
            ) from None
        return value

    @field_validator("announce", mode="before")
    @classmethod
    def _split_audiences(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("postmortem_attendees", mode="before")
    @classmethod
    def _split_people(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lstrip("@") for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "meeting_url",
        "postmortem_facilitator",
        "template_url",
        "incident_board_id",
        "incident_list",
        "followup_board_id",
        "webhook_callback_url",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lstrip("@") if value.startswith("@") else value.strip()
            return value or None
        return value

    @field_validator("webhook_listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError("is not host:port, e.g. 127.0.0.1:8080")
        return value

    @field_validator("web_listen")
    @classmethod
    def _check_web_listen(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None  # no pages
        return cls._check_listen(value.strip())

    @field_validator("web_password")
    @classmethod
    def _blank_password(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @field_validator("meeting_url", "template_url")
    @classmethod
    def _check_link(cls, value: str | None) -> str | None:
        return value if value is None else _http_url(value, "is not an http(s) URL people can open")

    @field_validator("webhook_callback_url")
    @classmethod
    def _check_callback(cls, value: str | None) -> str | None:
        return value if value is None else _http_url(value, "is not an http(s) URL")

    @model_validator(mode="after")
    def _webhook_needs(self) -> Settings:
        if self.webhook:
            missing = [
                name
                for name, value in (
                    ("INCIDENT_WEBHOOK_CALLBACK_URL", self.webhook_callback_url),
                    ("TRELLO_APP_SECRET", self.trello_app_secret),
                )
                if not value
            ]
            if missing:
                raise ValueError(
                    f"webhooks need {' and '.join(missing)} (the public URL Trello calls, and "
                    "the app secret that signs its deliveries)"
                )
        if self.web_listen and not self.web_password and not _loopback(self.web_listen):
            raise ValueError(
                f"INCIDENT_WEB_LISTEN {self.web_listen} is reachable from other machines: set "
                "INCIDENT_WEB_PASSWORD (the pages ask for it), or listen on 127.0.0.1"
            )
        if self.webhook and self.web_listen == self.webhook_listen:
            raise ValueError(
                "INCIDENT_WEB_LISTEN and INCIDENT_WEBHOOK_LISTEN are the same address: give the "
                "pages a port of their own"
            )
        if bool(self.outbound_urls) != bool(self.outbound_secret):
            raise ValueError(
                "signed outbound webhooks need both INCIDENT_OUTBOUND_URLS and "
                "INCIDENT_OUTBOUND_SECRET"
            )
        return self

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a time zone name such as Europe/Stockholm or UTC") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def feed_seconds(self) -> float:
        """How often the feed is read: slower when webhooks bring the actions."""
        return self.webhook_poll_seconds if self.webhook else self.poll_seconds

    @property
    def watched_boards(self) -> list[str]:
        """TRELLO_BOARD_ID, and the incident board (INCIDENT_BOARD_ID) if it is not among them."""
        boards = list(self.trello_board_ids)
        if self.incident_board_id and self.incident_board_id not in boards:
            boards.append(self.incident_board_id)
        return boards

    @field_validator("trello_board_ids", mode="before")
    @classmethod
    def _split_board_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, list | tuple):
            ids = [str(part).strip() for part in value if str(part).strip()]
            if not ids:
                raise ValueError("names no board")
            return ids
        return value

    @field_validator("trello_api_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value, "is not an http(s) URL").rstrip("/")


def _http_url(value: str, complaint: str) -> str:
    """`value` when it is an http(s) URL with a host; else `complaint` (after the name)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(complaint)
    return value


def load_settings(
    overrides: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
) -> Settings:
    """Build the settings from the environment, `env_file` and `overrides` (which win).

    Raises `ConfigError` with one sentence per problem, each naming the variable.
    """
    return _build(Settings, overrides, env_file)


class DatabaseSettings(BaseSettings):
    """The one setting `migrate` needs, read the same way as all of them."""

    model_config = Settings.model_config
    database_url: str = Field(
        default_factory=default_database_url, validation_alias="INCIDENT_DATABASE_URL"
    )


def load_database_url(
    overrides: Mapping[str, str] | None = None, *, env_file: str | Path | None = ".env"
) -> str:
    """INCIDENT_DATABASE_URL alone, from the same places as `load_settings`."""
    return _build(DatabaseSettings, overrides, env_file).database_url


_Built = TypeVar("_Built", bound=BaseSettings)


def _build(
    kind: type[_Built], overrides: Mapping[str, str] | None, env_file: str | Path | None
) -> _Built:
    if env_file is not None and env_file != ".env" and not Path(env_file).is_file():
        raise ConfigError(f"The settings file {env_file} does not exist.")
    problems, doubts = unknown_names(overrides or {}, env_file, os.environ)
    if problems:
        raise ConfigError(" ".join(problems))
    for doubt in doubts:
        logger.warning("%s", doubt)
    try:
        build: Any = kind  # values arrive as text, by variable name; pydantic converts them
        return cast(_Built, build(_env_file=env_file, **dict(overrides or {})))
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


#: Every setting's name, as people type it.
KNOWN_NAMES = frozenset(str(field.validation_alias) for field in Settings.model_fields.values())
_NAME = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def unknown_names(
    overrides: Mapping[str, str], env_file: str | Path | None, environ: Mapping[str, str]
) -> tuple[list[str], list[str]]:
    """(problems, doubts): names that look like settings but are none, one sentence each.

    A name of ours (`INCIDENT_*`, or one close to a setting of ours) that is no setting is a
    problem wherever it is, and so is any name given with `--set` and any `TRELLO_*` name in
    the settings file; a `TRELLO_*` name in the environment is only a doubt, and only when it
    is close to a setting (other Trello tools share the prefix).
    """
    problems = [_unknown(name, "given with --set") for name in overrides if name not in KNOWN_NAMES]
    path = Path(env_file) if env_file is not None else None
    if path is not None and path.is_file():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            found = _NAME.match(line)
            name = found[1] if found else ""
            if name not in KNOWN_NAMES and (
                name.startswith(("INCIDENT_", "TRELLO_")) or _closest(name)
            ):
                problems.append(_unknown(name, f"in {path}, line {number}"))
    doubts = []
    for name in sorted(environ):
        if name in KNOWN_NAMES:
            continue
        closest = _closest(name)
        if name.startswith("INCIDENT_") or (closest or "").startswith("INCIDENT_"):
            problems.append(_unknown(name, "in the environment"))  # ours, or ours mistyped
        elif name.startswith("TRELLO_") and closest:
            doubts.append(_unknown(name, "in the environment"))
    return problems, doubts


def _closest(name: str) -> str | None:
    found = difflib.get_close_matches(name, sorted(KNOWN_NAMES), n=1, cutoff=0.8)
    return found[0] if found else None


def _unknown(name: str, where: str) -> str:
    closest = _closest(name)
    hint = f": did you mean {closest}?" if closest else " (the README lists the settings)."
    return f"{name} ({where}) is not a setting of incident-worker{hint}"


def describe_validation_error(exc: ValidationError) -> str:
    """One plain sentence per problem, naming the variable; secrets' values are never shown."""
    sentences = []
    for error in exc.errors(include_url=False, include_input=True):
        if not error["loc"]:  # about several settings at once: the message names them
            message = error["msg"].removeprefix("Value error, ")
            sentences.append(f"{message[:1].upper()}{message[1:]}.")
            continue
        name = str(error["loc"][0])
        if error["type"] == "missing":
            sentences.append(f"{name} is not set: put it in the environment or in .env.")
            continue
        message = error["msg"].removeprefix("Value error, ")
        got = repr(error.get("input"))
        got = got if len(got) <= 60 else got[:56] + "…" + got[-3:]
        shown = "" if name in SECRET_SETTINGS else f" (got {got})"
        sentences.append(f"{name} {_lower_first(message)}{shown}.")
    return " ".join(sentences)


def _lower_first(text: str) -> str:
    """pydantic's "Input should be ..." as "must be ..."; our own messages as they are."""
    if text.startswith("Input should be greater than or equal to"):
        return "must be at least" + text.removeprefix("Input should be greater than or equal to")
    if text.startswith("Input should be"):
        return "must be" + text.removeprefix("Input should be")
    return text[:1].lower() + text[1:]


def _loopback(listen: str) -> bool:
    """Whether `host:port` listens on this machine only."""
    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_policy(settings: Settings, template: Template, worker_member_id: str) -> Policy:
    """The core's policy: the settings, else the template's front matter, else the defaults."""
    cadence = template.cadence
    audiences = [audience.name for audience in template.to_tell]
    for setting, names in (
        ("INCIDENT_ANNOUNCE", settings.announce),
        ("INCIDENT_CHANNELS", list(settings.channels)),
    ):
        for name in names:
            if name not in audiences:
                raise ConfigError(
                    f"{setting} names {name!r}, which is no audience of the template "
                    f"({', '.join(audiences)})."
                )
    return Policy(
        template=template,
        worker_member_id=worker_member_id,
        incident_label=settings.incident_label,
        workaround_label=settings.workaround_label,
        resolved_label=settings.resolved_label,
        resolved_lists=frozenset(name_key(name) for name in settings.resolved_lists),
        reminder_seconds=settings.reminder_seconds
        or cadence.reminder_seconds
        or DEFAULT_REMINDER_SECONDS,
        status_update_seconds=settings.status_update_seconds
        or cadence.status_update_seconds
        or DEFAULT_STATUS_UPDATE_SECONDS,
        role_reminder_seconds=settings.role_reminder_seconds
        or cadence.role_reminder_seconds
        or DEFAULT_ROLE_REMINDER_SECONDS,
        reminder_max_seconds=_first(
            settings.reminder_max_seconds,
            cadence.reminder_max_seconds,
            DEFAULT_REMINDER_MAX_SECONDS,
        ),
        escalate_after=_first(
            settings.escalate_after, cadence.escalate_after, DEFAULT_ESCALATE_AFTER
        ),
        escalate_to_board=bool(cadence.escalate_to_board),
        roles_by_anyone=cadence.roles_by == "anyone",
        meeting_url=settings.meeting_url,
        postmortem_days=settings.postmortem_days,
        postmortem_calendar=False,
        timezone=settings.tz,
        postmortem_attendees=tuple(settings.postmortem_attendees),
        postmortem_facilitator=settings.postmortem_facilitator,
        template_url=settings.template_url,
        incident_board_id=settings.incident_board_id,
        followup_days=settings.followup_days,
        channels=frozenset(name for name, urls in settings.channels.items() if urls),
        announce=tuple(settings.announce),
    )


def _first(*values: _T | None) -> _T:
    """The first value that is set (0 counts as set)."""
    return next(value for value in values if value is not None)


def channel_known(url: str) -> bool:
    """Whether Apprise can send to `url` (its form only: nothing is sent)."""
    import apprise

    return apprise.Apprise.instantiate(url, suppress_exceptions=True) is not None


def scheme_of(url: str) -> str:
    """What of a channel's URL may be shown: its scheme."""
    return url.split("://", 1)[0] if "://" in url else "?"
