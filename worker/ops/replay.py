"""`replay CARD`: a past incident played through a process, beside what the worker did.

Reads the card's history from Trello (one request, and one each for the worker's member and
the board's members), then `worker.report.replay` decides the rest: the worker's comments and
checklists as the card shows them, and what the worker would do with the given template (the
current one by default), side by side with the times and the metrics. Writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from worker.errors import NotFoundError, RequestRejected
from worker.report.replay import did, side_by_side, would
from worker.settings import Settings, build_policy
from worker.template import load_template
from worker.trello.client import Trello


def run_replay(
    settings: Settings, card: str, template_path: Path, out: TextIO, *, live: float | None = None
) -> int:
    """Print the card's replay; with `live` (a speed), play it on the sandbox instead
    (`worker.replay_live`)."""
    template = load_template(template_path)
    trello = Trello.from_settings(settings)
    try:
        try:
            found = trello.card(card)
        except (NotFoundError, RequestRejected):  # Trello says 400 for what cannot be an id
            raise NotFoundError(
                f"Card {card!r} does not exist or the token's member cannot see it."
            ) from None
        me = str(trello.me()["id"])
        history = trello.card_actions(str(found["id"]))
        listed = trello.board_members(str(found["idBoard"]))
    finally:
        trello.close()
    members = {str(m["username"]): str(m["id"]) for m in listed if "username" in m}
    policy = build_policy(settings, template, me)
    if live is not None:
        from worker.replay_live import play_history

        def say(text: str) -> None:
            print(text, file=out, flush=True)

        return play_history(history, template_path, policy, speed=live, say=say)
    print(
        f"Replay of {found.get('name', card)!r} with template v{template.version} "
        f"({template.path}); times in {settings.timezone}.\n",
        file=out,
    )
    lines = side_by_side(
        did(history, policy, members), would(history, policy, members), settings.tz
    )
    print("\n".join(lines), file=out)
    return 0
