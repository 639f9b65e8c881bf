"""`replay --sandbox`: a recorded card history played live on the sandbox, the real worker
process answering it with the template's cadences, faster by the same factor."""

from __future__ import annotations

import pytest

from tests.factories import TEMPLATE_PATH
from tests.report.test_replay import HISTORY
from tests.report.test_timeline import POLICY
from worker.replay_live import cadences, cast_people, play_history, recast

pytestmark = pytest.mark.e2e


def test_a_recorded_incident_is_played_on_a_card_and_the_worker_answers() -> None:
    said: list[str] = []
    assert play_history(HISTORY, TEMPLATE_PATH, POLICY, speed=600, say=said.append) == 0
    text = "\n".join(said)
    assert (
        "Replaying 3 actions on 'Checkout is down', 600x faster (@alice as @alice, @bob as @bob)"
        in text
    )
    assert "@alice: added the label Incident" in text
    assert "@bob: ticked" in text
    card = text.split("┌─", 1)[1]
    assert "**Incident declared**" in card and "Noted" in card
    assert "Reminder 1:" in card  # 15 min of the template's cadence, played in 1.5 s
    assert "[x] Consider communicating: When we first notice the problems." in card


def test_the_people_and_their_mentions_are_cast_in_order() -> None:
    from worker.core import trello_json as tj

    events = [e for e in (tj.parse_action(a) for a in HISTORY) if e is not None]
    cast = cast_people(events, POLICY.worker_member_id)
    assert cast == {"alice": "alice", "bob": "bob"}
    assert recast("/lead @bob and @stranger", {"bob": "carol"}) == "/lead @carol and @stranger"
    assert cadences(POLICY, 60)["INCIDENT_REMINDER_SECONDS"] == str(POLICY.reminder_seconds / 60)
    assert cadences(POLICY, 1e6)["INCIDENT_REMINDER_SECONDS"] == "0.5"  # never under half a second
