"""The worker's metrics in Prometheus' format (prometheus-client), served at `/metrics`.

A registry of the worker's own (nothing global): one histogram observed as the worker reacts,
and the rest read off the worker's parts when scraped (`Sources`), so counting costs the loop
nothing:

- `incident_worker_trello_responses_total{status}`: Trello's answers by status (`0`: none came);
  `incident_worker_trello_rate_limited_total`: the 429s among them;
  `incident_worker_trello_retries_total`: requests tried again;
- `incident_worker_feed_lag_seconds{board}`: since each held board's feed was last read;
- `incident_worker_reaction_seconds`: from an action's date on Trello to the worker's effect;
- `incident_worker_open_incidents{phase}`: the open incidents by phase;
- `incident_worker_reminders_sent_total`: communication reminders posted (from the store);
- `incident_worker_webhook_deliveries_total{outcome}`: accepted, or refused and why;
- `incident_worker_database_errors_total`: the times the database failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: Reaction time buckets, in seconds: a poll of a few seconds to a slow reconcile pass.
REACTION_BUCKETS = (0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class Sources:
    """Where each figure is read from, when scraped."""

    #: (Trello's answers by status, retries)
    trello: Callable[[], tuple[Mapping[int, int], int]]
    #: board name -> seconds since its feed was read
    feed_lag: Callable[[], Mapping[str, float]]
    #: phase -> open incidents
    open_incidents: Callable[[], Mapping[str, int]]
    reminders_sent: Callable[[], int]
    #: outcome ("accepted", or why refused) -> deliveries
    deliveries: Callable[[], Mapping[str, int]]
    database_errors: Callable[[], int]


class Metrics:
    """The registry, and what the worker observes as it goes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.reaction = Histogram(
            "incident_worker_reaction_seconds",
            "From an action's date on Trello to the worker's effect of it.",
            buckets=REACTION_BUCKETS,
            registry=self.registry,
        )

    def reacted(self, seconds: float) -> None:
        self.reaction.observe(max(0.0, seconds))

    def read_from(self, sources: Sources) -> None:
        """Report what `sources` give, at each scrape."""
        self.registry.register(_Snapshot(sources))

    def exposition(self) -> bytes:
        """Every metric, in Prometheus' text format."""
        return generate_latest(self.registry)


class _Snapshot(Collector):
    def __init__(self, sources: Sources):
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        answers, retries = self.sources.trello()
        responses = CounterMetricFamily(
            "incident_worker_trello_responses", "Trello's answers, by status.", labels=["status"]
        )
        for status, n in sorted(answers.items()):
            responses.add_metric([str(status)], n)
        yield responses
        yield CounterMetricFamily(
            "incident_worker_trello_rate_limited",
            "Trello's 429 answers (over the rate limit).",
            value=answers.get(429, 0),
        )
        yield CounterMetricFamily(
            "incident_worker_trello_retries", "Trello requests tried again.", value=retries
        )
        lag = GaugeMetricFamily(
            "incident_worker_feed_lag_seconds",
            "Since each held board's feed was last read.",
            labels=["board"],
        )
        for board, seconds in sorted(self.sources.feed_lag().items()):
            lag.add_metric([board], seconds)
        yield lag
        incidents = GaugeMetricFamily(
            "incident_worker_open_incidents", "Open incidents, by phase.", labels=["phase"]
        )
        for phase, n in sorted(self.sources.open_incidents().items()):
            incidents.add_metric([phase], n)
        yield incidents
        yield CounterMetricFamily(
            "incident_worker_reminders_sent",
            "Communication reminders posted.",
            value=self.sources.reminders_sent(),
        )
        deliveries = CounterMetricFamily(
            "incident_worker_webhook_deliveries",
            "Trello webhook deliveries: accepted, or refused and why.",
            labels=["outcome"],
        )
        for outcome, n in sorted(self.sources.deliveries().items()):
            deliveries.add_metric([outcome], n)
        yield deliveries
        yield CounterMetricFamily(
            "incident_worker_database_errors",
            "Times the database failed.",
            value=self.sources.database_errors(),
        )
