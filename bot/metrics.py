"""The bot's Prometheus metrics, served as GET /metrics on the health port (bot/health.py); docs/metrics.md lists them.

Counted as requests end (BardMetrics.observe, called by RequestStats.record): replies by outcome, generation time
and queue wait, characters written. Read when scraped (collectors): the queue, the admission's expected wait, the
models served, the gateway's latency and the servers. They live in a registry of the bot's own, never
prometheus_client's process-wide one, so that two bots (or two tests) in one process count apart and a host bot's
own metrics are left alone. No label carries a user's id or a seed: the labels are outcomes, model names and
checksums, and shard numbers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from bot.stats import OUTCOMES, Outcome

# Seconds. A monologue takes about 0.5-2 s alone and up to tens of seconds in a full batch on a busy machine;
# a request waits from nothing up to the admission's limit (BARD_MAX_WAIT, 20 s) and, past it, its timeout.
GENERATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
QUEUE_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0)


class ServedModels(Protocol):
    """What the service collector reads (bot.service.GenerationService)."""

    pending: int
    default: str

    def expected_wait(self) -> float: ...
    def checksums(self) -> dict[str, str]: ...


class BardMetrics:
    """The bard's metrics in a registry of its own; render() is the /metrics page."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.replies = Counter(
            "bard_replies", "Commands answered, by how they ended", ["outcome"], registry=self.registry
        )
        for outcome in OUTCOMES:  # every outcome is shown from the start, at 0, so rates work before the first
            self.replies.labels(outcome)
        self.generation_seconds = Histogram(
            "bard_generation_seconds",
            "Time a monologue took to generate, its batch's time (answered ones)",
            buckets=GENERATION_BUCKETS,
            registry=self.registry,
        )
        self.queue_wait_seconds = Histogram(
            "bard_queue_wait_seconds",
            "Time a request waited in the queue before its batch started",
            buckets=QUEUE_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.characters = Counter(
            "bard_generated_characters", "Characters of monologue written (answered ones)", registry=self.registry
        )

    def observe(self, outcome: Outcome, *, chars: int | None, queue_wait: float | None, gen_time: float | None) -> None:
        """Count one request as it ends; times in seconds, None where it never got that far."""
        self.replies.labels(outcome).inc()
        if queue_wait is not None:
            self.queue_wait_seconds.observe(queue_wait)
        if outcome == "ok":
            if gen_time is not None:
                self.generation_seconds.observe(gen_time)
            if chars:
                self.characters.inc(chars)

    def watch_service(self, service: ServedModels) -> None:
        """Report the service's queue, expected wait and models on every scrape."""
        self.registry.register(_ServiceCollector(service))

    def watch_gateway(self, client: Any) -> None:
        """Report a discord.py client's gateway latency (per shard) and servers on every scrape."""
        self.registry.register(_GatewayCollector(client))

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """(the page, its Content-Type): Prometheus text, or OpenMetrics when the scraper's Accept asks for it."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class _ServiceCollector(Collector):
    def __init__(self, service: ServedModels) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        service = self.service
        yield GaugeMetricFamily(
            "bard_queue_depth", "Requests accepted and not yet answered (waiting or generating)", service.pending
        )
        yield GaugeMetricFamily(
            "bard_expected_wait_seconds",
            "How long a request accepted now would wait for its reply (the admission's estimate)",
            service.expected_wait(),
        )
        models = InfoMetricFamily(
            "bard_model", "The models served: name, sha256 of the weights, whether it is the default", labels=[]
        )
        for name, checksum in sorted(service.checksums().items()):
            models.add_metric([], {"model": name, "weights_sha256": checksum, "default": str(name == service.default)})
        yield models


class _GatewayCollector(Collector):
    def __init__(self, client: Any) -> None:
        self.client = client

    def collect(self) -> Iterator[Metric]:
        client = self.client
        latency = GaugeMetricFamily(
            "bard_gateway_latency_seconds",
            "Time between a gateway heartbeat and its acknowledgement, per shard (absent until the first)",
            labels=["shard"],
        )
        for shard, seconds in _latencies(client):
            if math.isfinite(seconds):  # infinite (or NaN) until the first heartbeat is acknowledged
                latency.add_metric([str(shard)], seconds)
        yield latency
        yield GaugeMetricFamily("bard_servers", "Discord servers (guilds) this process is in", len(client.guilds))


def _latencies(client: Any) -> list[tuple[int, float]]:
    """(shard, seconds) for each shard of a sharded client (discord.py's AutoShardedClient), else its one."""
    if hasattr(client, "latencies") and client.shard_count:
        return list(client.latencies)
    return [(client.shard_id or 0, client.latency)]
