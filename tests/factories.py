"""Factories shared by the tests: the default template, paths of the checkout."""

from __future__ import annotations

from pathlib import Path

from worker.template import Template, load_template

#: The checkout's root folder.
ROOT = Path(__file__).resolve().parents[1]
#: The default template, as shipped.
TEMPLATE_PATH = ROOT / "config" / "incident-template.md"
TEMPLATE: Template = load_template(TEMPLATE_PATH)
