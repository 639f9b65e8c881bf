"""Factories shared by the tests: the default template, settings, the policy, paths."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from worker.core.model import Policy
from worker.settings import Settings, build_policy, load_settings
from worker.template import Template, load_template

#: The checkout's root folder.
ROOT = Path(__file__).resolve().parents[1]
#: The default template, as shipped.
TEMPLATE_PATH = ROOT / "config" / "incident-template.md"
TEMPLATE: Template = load_template(TEMPLATE_PATH)


def settings(**values: str) -> Settings:
    """Settings as the worker would read them, from `values` (names as in the environment)."""
    given = {"TRELLO_API_KEY": "k" * 32, "TRELLO_TOKEN": "t" * 64, "TRELLO_BOARD_ID": "b1"}
    return load_settings({**given, **values}, env_file=None)


def a_policy(template: Template = TEMPLATE, worker_member_id: str = "w0", **changes: Any) -> Policy:
    """The policy the default settings give, with `changes` (field names of `Policy`)."""
    built = build_policy(settings(), template, worker_member_id)
    return replace(built, **changes)
