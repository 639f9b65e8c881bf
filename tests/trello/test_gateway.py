"""The gateway at the HTTP level, with `responses` standing in for Trello."""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime

import pytest
import requests
import responses
from pydantic import SecretStr

from tests.factories import FakeClock, sandbox_values
from worker.errors import AuthError, NotFoundError, RequestRejected, TrelloUnavailable
from worker.sandbox import Sandbox
from worker.settings import load_settings
from worker.trello.client import Trello
from worker.trello.session import (
    Credentials,
    RateLimiter,
    RetryPolicy,
    TrelloSession,
    limiter_delay,
)

BASE = "http://trello.test/1"
KEY = "0123456789abcdef0123456789abcdef"
TOKEN = "f" * 60 + "beef"


def make_trello(clock: FakeClock, *, attempts: int = 4, limit: int = 1000) -> Trello:
    session = TrelloSession(
        BASE,
        credentials=Credentials(SecretStr(KEY), SecretStr(TOKEN)),
        limiter=RateLimiter(limit, 10.0, clock=clock, sleep=clock.sleep),
        retry=RetryPolicy(attempts=attempts, initial=0.5, maximum=4.0, jitter=0.25),
        sleep=clock.sleep,
    )
    return Trello(session)


@responses.activate
def test_routes_trello_prefix_and_sends_secrets_only_in_the_header(clock: FakeClock) -> None:
    responses.get(f"{BASE}/boards/b1", json={"id": "b1", "name": "Ops", "shortLink": "abc"})
    board = make_trello(clock).board("b1")
    assert board["name"] == "Ops"
    (call,) = responses.calls
    assert call.request.url is not None
    assert call.request.url.startswith(f"{BASE}/boards/b1?")
    assert KEY not in call.request.url and TOKEN not in call.request.url
    assert call.request.headers["Authorization"] == (
        f'OAuth oauth_consumer_key="{KEY}", oauth_token="{TOKEN}"'
    )


@responses.activate
def test_every_request_has_a_timeout(clock: FakeClock) -> None:
    seen: list[object] = []

    def record(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        return (200, {}, "{}")

    responses.add_callback(responses.GET, f"{BASE}/members/me", callback=record)
    trello = make_trello(clock)
    original = requests.adapters.HTTPAdapter.send

    def spy(
        self: requests.adapters.HTTPAdapter, request: requests.PreparedRequest, **kw: object
    ) -> requests.Response:
        seen.append(kw.get("timeout"))
        return original(self, request, **kw)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(requests.adapters.HTTPAdapter, "send", spy)
        trello.me()
    assert seen == [(3.05, 15.0)]


@responses.activate
def test_retries_429_and_5xx_then_succeeds_with_growing_capped_backoff(clock: FakeClock) -> None:
    url = f"{BASE}/boards/b1/actions"
    responses.get(url, status=429, json={"error": "API_TOKEN_LIMIT_EXCEEDED"})
    responses.get(url, status=503, body="busy")
    responses.get(url, status=500, body="oops")
    responses.get(url, json=[])
    assert make_trello(clock).board_actions("b1") == []
    assert len(responses.calls) == 4
    assert len(clock.sleeps) == 3
    # exponential (0.5, 1, 2) plus jitter below 0.25 each
    for base, slept in zip((0.5, 1.0, 2.0), clock.sleeps, strict=True):
        assert base <= slept <= base + 0.25


@responses.activate
def test_gives_up_after_the_configured_attempts(clock: FakeClock) -> None:
    responses.get(f"{BASE}/boards/b1/actions", status=502, body="bad gateway")
    with pytest.raises(
        TrelloUnavailable, match=r"answered 502 to GET /1/boards/b1/actions 4 times"
    ):
        make_trello(clock, attempts=4).board_actions("b1")
    assert len(responses.calls) == 4
    assert max(clock.sleeps) <= 4.0 + 0.25


@responses.activate
def test_timeouts_and_resets_are_retried_for_reads(clock: FakeClock) -> None:
    url = f"{BASE}/members/me"
    responses.get(url, body=requests.ReadTimeout("read timed out"))
    responses.get(url, body=requests.ConnectionError("Connection reset by peer"))
    responses.get(url, json={"id": "m1", "username": "bot"})
    assert make_trello(clock).me()["username"] == "bot"
    assert len(responses.calls) == 3


@responses.activate
def test_timeouts_that_never_end_become_our_error(clock: FakeClock) -> None:
    responses.get(f"{BASE}/members/me", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(
        TrelloUnavailable, match=r"did not answer GET /1/members/me \(ReadTimeout\)"
    ):
        make_trello(clock, attempts=3).me()
    assert len(responses.calls) == 3


@responses.activate
def test_a_post_is_retried_on_429_but_not_after_an_uncertain_failure(clock: FakeClock) -> None:
    url = f"{BASE}/cards/c1/actions/comments"
    responses.post(url, status=429, json={"error": "API_TOKEN_LIMIT_EXCEEDED"})
    responses.post(url, json={"id": "a1"})
    trello = make_trello(clock)
    assert trello.comment("c1", "hello")["id"] == "a1"
    assert len(responses.calls) == 2

    responses.reset()
    responses.post(url, status=500, body="oops")
    with pytest.raises(TrelloUnavailable) as caught:
        trello.comment("c1", "hello")
    assert caught.value.applied_unknown
    assert len(responses.calls) == 1

    responses.reset()
    responses.post(url, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TrelloUnavailable) as caught:
        trello.comment("c1", "hello")
    assert caught.value.applied_unknown
    assert len(responses.calls) == 1


@responses.activate
def test_401_says_to_check_the_key_and_token(clock: FakeClock) -> None:
    responses.get(f"{BASE}/members/me", status=401, body=f"invalid token {TOKEN}")
    with pytest.raises(AuthError) as caught:
        make_trello(clock).me()
    message = str(caught.value)
    assert "check TRELLO_API_KEY and TRELLO_TOKEN" in message
    assert TOKEN not in message
    assert len(responses.calls) == 1


@responses.activate
def test_404_on_a_board_names_the_board_id(clock: FakeClock) -> None:
    responses.get(f"{BASE}/boards/nope", status=404, body="The requested resource was not found.")
    with pytest.raises(NotFoundError, match=r"Board 'nope' \(in TRELLO_BOARD_ID\) does not exist"):
        make_trello(clock).board("nope")


@responses.activate
def test_other_refusals_are_not_retried(clock: FakeClock) -> None:
    responses.put(f"{BASE}/cards/c1", status=400, body="invalid value for desc")
    with pytest.raises(RequestRejected, match="400 to PUT /1/cards/c1: 'invalid value for desc'"):
        make_trello(clock).set_description("c1", "x")
    assert len(responses.calls) == 1


@responses.activate
def test_board_actions_pages_back_until_since(clock: FakeClock) -> None:
    url = f"{BASE}/boards/b1/actions"
    first = [
        {"id": f"{2000 - i:024x}", "date": f"2026-01-01T00:{(2000 - i) // 60 % 60:02d}:00.000Z"}
        for i in range(1000)
    ]
    second = [{"id": f"{1000 - i:024x}", "date": "2026-01-01T00:00:00.000Z"} for i in range(5)]
    responses.get(url, json=first)
    responses.get(url, json=second)
    actions = make_trello(clock).board_actions("b1", since="cursor")
    assert len(actions) == 1005
    assert "before=" not in (responses.calls[0].request.url or "")
    assert f"before={first[-1]['id']}" in (responses.calls[1].request.url or "")
    assert "since=cursor" in (responses.calls[1].request.url or "")
    dates = [a["date"] for a in actions]
    assert dates == sorted(dates)


@pytest.mark.parametrize(
    ("sent", "now", "limit", "window", "delay"),
    [
        ([], 0.0, 3, 10.0, 0.0),
        ([0.0, 1.0], 2.0, 3, 10.0, 0.0),
        ([0.0, 1.0, 2.0], 3.0, 3, 10.0, 7.0),
        ([0.0, 1.0, 2.0], 9.5, 3, 10.0, 0.5),
        ([0.0, 1.0, 2.0], 10.5, 3, 10.0, 0.0),
        ([0.0, 1.0, 2.0], 12.0, 3, 10.0, 0.0),
        ([5.0, 5.0, 5.0, 5.0], 6.0, 2, 10.0, 9.0),
    ],
)
def test_limiter_delay_table(
    sent: list[float], now: float, limit: int, window: float, delay: float
) -> None:
    assert limiter_delay(deque(sent), now, limit, window) == pytest.approx(delay)


def test_rate_limiter_never_exceeds_the_limit_in_any_window(clock: FakeClock) -> None:
    limiter = RateLimiter(100, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    starts = []
    for i in range(450):
        limiter.acquire()
        starts.append(clock.now)
        clock.now += 0.001 * (i % 7)  # requests take a little time
    most = max(sum(1 for t in starts if s <= t < s + 10.0) for s in starts)
    assert most == 100
    # and it does not wait needlessly: 450 requests need about 4 windows
    assert starts[-1] - starts[0] < 4 * 10.0 + 1.0


@pytest.mark.parametrize(("replicas", "most"), [(1, 100), (3, 33), (2, 50), (150, 1)])
def test_replicas_on_one_token_each_keep_to_their_part_of_the_budget(
    clock: FakeClock, replicas: int, most: int
) -> None:
    limiter = RateLimiter(100, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    limiter.share(replicas)
    starts = []
    for _ in range(120):
        limiter.acquire()
        starts.append(clock.now)
        clock.now += 0.001
    assert max(sum(1 for t in starts if s <= t < s + 10.0) for s in starts) == most
    limiter.share(1)  # the others gone: the whole budget again
    assert limiter.limit == 100


def test_a_shared_budget_is_claimed_once_the_processes_own_window_allows(
    clock: FakeClock,
) -> None:
    answers = [0.4, 0.3, 0.0, 0.0, 0.0]
    limiter = RateLimiter(2, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    limiter.share_through(lambda: answers.pop(0))
    assert limiter.acquire() == pytest.approx(0.7)  # the shared second was full twice
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(10.0 - 0.7)  # its own window first, then claimed
    assert answers == []


@responses.activate
def test_the_session_waits_for_the_limiter(clock: FakeClock) -> None:
    responses.get(f"{BASE}/members/me", json={"id": "m"})
    trello = make_trello(clock, limit=5)
    for _ in range(12):
        trello.me()
    assert len(responses.calls) == 12
    assert sum(clock.sleeps) >= 2 * 10.0


@responses.activate
def test_secrets_never_reach_logs_or_exceptions(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses.get(f"{BASE}/members/me", status=503, body=f"down {KEY}")
    responses.get(f"{BASE}/boards/x", status=401, body=f"bad {TOKEN}")
    trello = make_trello(clock, attempts=2)
    errors = []
    for call in (trello.me, lambda: trello.board("x")):
        with pytest.raises(Exception) as caught:
            call()
        errors.append(f"{caught.value!s} {caught.value!r}")
    text = caplog.text + " ".join(errors) + repr(trello) + repr(trello.session)
    text += repr(vars(trello.client))
    assert "retrying" in caplog.text
    assert KEY not in text
    assert TOKEN not in text


def test_every_label_of_a_board_is_read_not_trellos_first_fifty() -> None:
    sb = Sandbox.seeded()
    with sb.serve() as server:
        trello = Trello.from_settings(
            load_settings(sandbox_values(sb, server, "sqlite://"), env_file=None)
        )
        board = sb.board_ids[0]
        try:
            for n in range(60):
                trello.create_label(board, f"team {n}", "blue")
            names = [label["name"] for label in trello.labels(board)]
        finally:
            trello.close()
    assert len(names) > 60 and names[-1] == "team 59"


@responses.activate
def test_archived_cards_where_cards_closed_is_not_known(clock: FakeClock) -> None:
    """Trello lists a board's archived cards at `/cards/closed`; a stand-in that knows only
    `?filter=closed` is asked that way; one that knows neither leaves the keeper blind, not
    stopped."""
    from worker.runtime.keeper import Keeper

    responses.add(responses.GET, f"{BASE}/boards/b1/cards/closed", status=404, body="Not found")
    responses.add(responses.GET, f"{BASE}/boards/b1/cards", json=[{"id": "c9", "desc": ""}])
    trello = make_trello(clock)
    assert trello.archived_cards("b1") == [{"id": "c9", "desc": ""}]
    assert "filter=closed" in (responses.calls[-1].request.url or "")

    responses.replace(responses.GET, f"{BASE}/boards/b1/cards", status=404, body="Not found")
    keeper = Keeper(trello, lambda: "ab12cd34", clock=lambda: datetime(2026, 3, 2, tzinfo=UTC))
    keeper.check("b1", "Incidents")  # no error: no claim seen


@responses.activate
def test_taking_up_where_the_board_nests_no_cards_and_no_actions(clock: FakeClock) -> None:
    """A stand-in that nests lists, labels and members in a board but not its archived cards
    nor its actions: those parts are None, for their readers to read their own way."""
    board = {"id": "b1", "name": "Ops", "lists": [], "labels": [], "members": []}
    responses.get(f"{BASE}/batch", json=[{"200": board}, {"200": {**board, "id": "b2"}}])
    taken = make_trello(clock).take_up_reads(["b1", "b2"])
    first = taken["b1"]
    assert not isinstance(first, Exception)
    assert (first.archived, first.recent, first.whole[0]["id"]) == (None, None, "b1")
    (url,) = [c.request.url or "" for c in responses.calls]
    assert "cards%3Dclosed" in url and "actions_limit%3D50" in url


@responses.activate
def test_without_batch_each_route_is_read_on_its_own_from_then_on(clock: FakeClock) -> None:
    """A Trello stand-in that answers no `/batch`: the feeds are still read, one a request."""
    responses.get(f"{BASE}/batch", status=404, body="Cannot GET /1/batch")
    responses.get(f"{BASE}/boards/b1/actions", json=[{"id": "a1", "date": "2026-03-01T09:00:00Z"}])
    responses.get(f"{BASE}/boards/b2/actions", status=404, body="not found")
    trello = make_trello(clock)
    first = trello.feeds([("b1", None), ("b2", None)])
    assert first["b1"] == [{"id": "a1", "date": "2026-03-01T09:00:00Z"}]
    assert isinstance(first["b2"], NotFoundError) and "TRELLO_BOARD_ID" in str(first["b2"])
    again = trello.feeds([("b1", None), ("b2", None)])
    assert again["b1"] == first["b1"]
    batches = [c for c in responses.calls if c.request.url.split("?")[0].endswith("/batch")]
    assert len(batches) == 1  # tried once, then not again
    (read,) = {c.request.url for c in responses.calls if "/boards/b1/actions" in c.request.url}
    assert "filter=all" in read and "limit=1000" in read
