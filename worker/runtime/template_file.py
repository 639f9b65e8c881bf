"""The template file, watched: an edit is taken up at the next cycle, a broken one reported."""

from __future__ import annotations

import logging
from pathlib import Path

from worker.template import Template, TemplateError, load_template

logger = logging.getLogger(__name__)


class TemplateFile:
    """The template in use, and the file it came from."""

    def __init__(self, template: Template):
        self.template = template
        self._stamp = _stamp(Path(template.path))

    def changed(self) -> Template | None:
        """The edited template, when the file changed to a new valid version; else None.

        A broken edit is reported (once per edit) and the template in use is kept.
        """
        path = Path(self.template.path)
        stamp = _stamp(path)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            template = load_template(path)
        except TemplateError as exc:
            logger.error("%s Still using template v%s.", exc, self.template.version)
            return None
        if template.version == self.template.version:
            return None
        logger.info(
            "template changed (v%s -> v%s): new incidents get the new checklists",
            self.template.version,
            template.version,
        )
        self.template = template
        return template


def _stamp(path: Path) -> tuple[int, int] | None:
    """When and how big the file last was: cheap to ask every cycle."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)
