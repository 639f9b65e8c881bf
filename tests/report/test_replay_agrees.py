"""The draft's replay and the live worker agree: what the timeline tells took effect.

Random histories of people's actions on an incident card are fed to the live rules one
event at a time, as the worker's feed does (`rules.on_event` with the board's members), and
replayed by the draft (`timeline.replayed`). The roles, the phase and whether the incident
ended must come out the same.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.report.test_timeline import IDS, POLICY, comment, label, move
from worker.core import rules
from worker.core import trello_json as tj
from worker.core.model import Incident
from worker.report import timeline

BOARD = {name: member for name, member in IDS.items() if name != "dave"}  # dave is not on it
PEOPLE = ["alice", "bob", "carol", "dave", "nobody"]

step = st.one_of(
    st.tuples(
        st.just("comment"),
        st.sampled_from(["lead", "communicator", "delvers", "quickfixers"]),
        st.lists(st.sampled_from(PEOPLE), min_size=0, max_size=3),
    ),
    st.tuples(
        st.just("say"),
        st.sampled_from(
            [
                "/workaround restarted",
                "/resolved rolled back",
                "/reopen back again",
                "/help",
                "/resolve typo",
                "looking at /var/log/app.log",
                "plain words",
            ]
        ),
    ),
    st.tuples(
        st.just("label"),
        st.sampled_from(["Workaround", "Resolved", "Incident", "Bug"]),
        st.booleans(),
    ),
    st.tuples(st.just("move"), st.sampled_from([("Doing", "Done"), ("Done", "Doing")])),
)


def to_history(steps: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    history = [label(0, "Incident")]
    for n, one in enumerate(steps, start=1):
        who = ["alice", "bob", "carol"][n % 3]
        if one[0] == "comment":
            text = f"/{one[1]} " + " ".join(f"@{p}" for p in one[2])
            history.append(comment(n, text, who=who))
        elif one[0] == "say":
            history.append(comment(n, one[1], who=who))
        elif one[0] == "label":
            history.append(label(n, one[1], who=who, remove=one[2]))
        else:
            history.append(move(n, *one[1], who=who))
    return history


def live(history: list[dict[str, Any]]) -> Incident | None:
    incident: Incident | None = None
    for raw in history:
        event = tj.parse_action(raw)
        if event is None:
            continue
        decision = rules.on_event(incident, event, POLICY, BOARD)
        if decision is not None:
            incident = decision[0]
    return incident


def shape(incident: Incident | None) -> tuple[Any, ...] | None:
    if incident is None:
        return None
    return (
        incident.lead,
        incident.communicator,
        incident.delvers,
        incident.quickfixers,
        incident.phase,
        tuple(sorted(incident.phase_started)),
        incident.ended,
        incident.resolutions,
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=12))
def test_the_replay_leaves_the_incident_as_the_live_worker_did(
    steps: list[tuple[Any, ...]],
) -> None:
    history = to_history(steps)
    replayed = timeline.replayed(history, policy=POLICY, members=BOARD)
    assert shape(replayed) == shape(live(history))
