"""Counters, latency histograms and tracked stat sources of one service, rendered for Prometheus.

Instruments are ours (a lock-protected int, a bucket array) rather than ``prometheus_client.Counter`` so
that the same names can carry both the service's own count and per-source tracked counts in one family:
two collectors emitting one family name would produce a ``/metrics`` page scrapers reject. Formatting is
``prometheus_client``'s, through a custom collector in a per-service :class:`CollectorRegistry` (never the
global one, so two services or two tests in one process never clash).
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = [
    "LATENCY_BUCKETS_SECONDS",
    "Counter",
    "LatencyHistogram",
    "StatSource",
    "Telemetry",
    "read_stats",
]

#: Upper bounds (seconds) of the latency buckets: 10 µs to 2.5 s, the same as the Rust crate's.
LATENCY_BUCKETS_SECONDS: Final[tuple[float, ...]] = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)

#: Something whose numeric stats are read at every scrape: a callable returning a mapping, a mapping, an
#: object with ``as_dict()`` (``SubscriberStats``), a dataclass, or an object with a ``stats`` attribute
#: holding one of those (``ZMQSubscriber``).
StatSource = Any

_STANDARD_COUNTERS: Final[dict[str, str]] = {
    "messages_processed": "Messages the service handled.",
    "malformed_messages": "Messages refused by their contract.",
    "sequence_gaps": "Sequence gaps seen on the bus.",
}


class Counter:
    """A thread-safe monotonically increasing count."""

    __slots__ = ("_lock", "_value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def inc(self, amount: int = 1) -> None:
        """Add ``amount`` (>= 0; a counter never goes down)."""
        if amount < 0:
            raise ValueError(f"a counter only increases, got {amount}")
        with self._lock:
            self._value += amount

    @property
    def value(self) -> int:
        return self._value


class LatencyHistogram:
    """Latency observations in :data:`LATENCY_BUCKETS_SECONDS` buckets (thread-safe)."""

    __slots__ = ("_buckets", "_count", "_lock", "_sum")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets = [0] * len(LATENCY_BUCKETS_SECONDS)
        self._count = 0
        self._sum = 0.0

    def observe(self, seconds: float) -> None:
        """Record one duration; negative or non-finite values are ignored (only a clock bug makes them)."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        index = bisect.bisect_left(LATENCY_BUCKETS_SECONDS, seconds)
        with self._lock:
            if index < len(self._buckets):
                self._buckets[index] += 1
            self._count += 1
            self._sum += seconds

    @property
    def count(self) -> int:
        return self._count

    @property
    def sum(self) -> float:
        return self._sum

    def cumulative_buckets(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= bound)`` pairs, without ``+Inf`` (which is :attr:`count`)."""
        with self._lock:
            counts = list(self._buckets)
        running = 0
        out = []
        for bound, count in zip(LATENCY_BUCKETS_SECONDS, counts, strict=True):
            running += count
            out.append((bound, running))
        return out


def read_stats(source: StatSource) -> dict[str, int | float]:
    """The top-level numeric stats of ``source`` (booleans, nested maps and texts are left out)."""
    value = source
    for _ in range(3):  # a callable returning an object with .stats returning ... stops quickly
        if isinstance(value, Mapping):
            break
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            # Plain attribute reads, before as_dict(): a threaded server must not iterate nested dicts
            # the service's thread may be resizing.
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        elif hasattr(value, "as_dict"):
            value = value.as_dict()
        elif hasattr(value, "stats"):
            value = value.stats
        elif callable(value):
            value = value()
        else:
            break
    if not isinstance(value, Mapping):
        raise TypeError(f"cannot read stats from {type(value).__name__}; give a mapping or a callable")
    return {
        str(key): item
        for key, item in value.items()
        if isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item)
    }


def _metric_name(raw: str) -> str:
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "_:") else "_" for c in raw)
    return "_" + cleaned if not cleaned or cleaned[0].isdigit() else cleaned


#: How long a scrape waits for the service's loop to read a tracked source before skipping it.
SOURCE_READ_TIMEOUT_S: Final = 1.0


class _Tracked:
    """A tracked source and the event loop that owns it (``None``: readable from any thread)."""

    __slots__ = ("owner", "source")

    def __init__(self, source: StatSource, owner: asyncio.AbstractEventLoop | None) -> None:
        self.source = source
        self.owner = owner

    def read(self) -> dict[str, int | float]:
        owner = self.owner
        if owner is None or owner.is_closed() or not owner.is_running() or _running_loop() is owner:
            return read_stats(self.source)
        # Hand the read to the owner's thread and wait for it there: one tiny callback on its loop.
        result: concurrent.futures.Future[dict[str, int | float]] = concurrent.futures.Future()

        def read_on_owner() -> None:
            try:
                result.set_result(read_stats(self.source))
            except Exception as exc:
                result.set_exception(exc)

        owner.call_soon_threadsafe(read_on_owner)
        return result.result(timeout=SOURCE_READ_TIMEOUT_S)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Telemetry:
    """The instruments of one service: uptime, standard counters, latency per stage, tracked sources.

    ``registry`` is this service's own :class:`CollectorRegistry`: register extra ``prometheus_client``
    metrics there and ``/metrics`` shows them too.
    """

    def __init__(self) -> None:
        self._started = time.monotonic()
        self.messages_processed = Counter()
        self.malformed_messages = Counter()
        self.sequence_gaps = Counter()
        self._latency: dict[str, LatencyHistogram] = {}
        self._sources: dict[str, _Tracked] = {}
        self._lock = threading.Lock()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_TelemetryCollector(self))
        #: extra gauges evaluated at scrape time, set by the health check (status, readiness)
        self.state_gauges: Callable[[], list[Metric]] = list

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self._started

    def latency(self, stage: str) -> LatencyHistogram:
        """The histogram of one stage, created on first use (keep it: observing takes no dict look-up)."""
        with self._lock:
            histogram = self._latency.get(stage)
            if histogram is None:
                histogram = self._latency[stage] = LatencyHistogram()
            return histogram

    def observe_latency(self, stage: str, seconds: float) -> None:
        self.latency(stage).observe(seconds)

    def track(self, name: str, source: StatSource) -> None:
        """Read ``source`` at every scrape; tracking a name again replaces it. Fails now, not at scrape,
        when ``source`` cannot be read.

        When called inside a running event loop, later reads happen *on that loop* even if the server
        runs in its own thread: a bus object's ``stats`` may touch its ZeroMQ socket, which only its own
        thread may use. Elsewhere (a synchronous program) the source is read from the server's thread and
        must be safe to read from there (plain counters are).
        """
        read_stats(source)
        try:
            owner: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            owner = None
        with self._lock:
            self._sources[name] = _Tracked(source, owner)

    def untrack(self, name: str) -> None:
        with self._lock:
            self._sources.pop(name, None)

    def tracked_stats(self) -> Iterator[tuple[str, dict[str, int | float]]]:
        """``(source name, stats)`` for every tracked source; a source that fails or takes too long to
        read is skipped, so one broken source (or a stalled service loop) cannot take ``/health`` or
        ``/metrics`` down."""
        with self._lock:
            sources = list(self._sources.items())
        for name, tracked in sources:
            try:
                yield name, tracked.read()
            except Exception:
                continue

    def standard_counters(self) -> dict[str, Counter]:
        return {
            "messages_processed": self.messages_processed,
            "malformed_messages": self.malformed_messages,
            "sequence_gaps": self.sequence_gaps,
        }

    def health_metrics(self) -> dict[str, str]:
        """What ``/health`` shows besides the explicit metrics: standard counters once they counted
        something, and ``<source>_<key>`` for every tracked stat."""
        out = {name: str(c.value) for name, c in self.standard_counters().items() if c.value > 0}
        for source, stats in self.tracked_stats():
            for key, value in stats.items():
                out[f"{source}_{key}"] = _format_number(value)
        return out

    def _transit_histograms(self) -> Iterator[Metric]:
        """``tradebridge_bus_transit_seconds`` for every tracked bus subscriber (its ``stats.transit``,
        tradebridge.bus.stats.TransitHistogram): read from any thread, a copy of a list of counts."""
        with self._lock:
            sources = list(self._sources.items())
        family = HistogramMetricFamily(
            "tradebridge_bus_transit_seconds",
            "Bus transit of received messages (receiver's clock minus the sender's sent_at_us).",
            labels=["source"],
        )
        for name, tracked in sources:
            value, transit = tracked.source, None
            for _ in range(3):
                transit = getattr(value, "transit", None)
                if transit is not None or not hasattr(value, "stats") or isinstance(value, Mapping):
                    break
                value = value.stats
            if transit is None or not hasattr(transit, "cumulative_buckets"):
                continue
            buckets = [(repr(b), float(c)) for b, c in transit.cumulative_buckets()]
            buckets.append(("+Inf", float(transit.count)))
            family.add_metric([name], buckets, transit.sum_us / 1e6)
        if family.samples:
            yield family

    def render(self) -> bytes:
        """The ``/metrics`` page (Prometheus text format 0.0.4)."""
        return generate_latest(self.registry)

    def collect(self) -> Iterator[Metric]:
        uptime = GaugeMetricFamily("tradebridge_uptime_seconds", "Seconds since the service started.")
        uptime.add_metric([], self.uptime_seconds)
        yield uptime
        # One family per name: a tracked stat named like a standard counter joins its family.
        families: dict[str, CounterMetricFamily] = {}

        def family(key: str) -> CounterMetricFamily:
            name = f"tradebridge_{_metric_name(key)}"
            if name not in families:
                help_text = _STANDARD_COUNTERS.get(key, "A tracked statistic, per source.")
                families[name] = CounterMetricFamily(name, help_text, labels=["source"])
            return families[name]

        for key, counter in self.standard_counters().items():
            family(key).samples.append(_sample(f"tradebridge_{key}_total", {}, counter.value))
        for source, stats in self.tracked_stats():
            for key, value in stats.items():
                metric = family(key)
                metric.samples.append(_sample(f"{metric.name}_total", {"source": source}, value))
        yield from families.values()

        histogram = HistogramMetricFamily(
            "tradebridge_latency_seconds", "Latency of a processing stage.", labels=["stage"]
        )
        with self._lock:
            stages = sorted(self._latency.items())
        for stage, hist in stages:
            buckets: list[tuple[str, float]] = [(repr(b), float(c)) for b, c in hist.cumulative_buckets()]
            buckets.append(("+Inf", float(hist.count)))
            histogram.add_metric([stage], buckets, hist.sum)
        yield histogram
        yield from self._transit_histograms()
        yield from self.state_gauges()


def _sample(name: str, labels: dict[str, str], value: float) -> Any:
    from prometheus_client.samples import Sample

    return Sample(name, labels, float(value), None, None)


def _format_number(value: int | float) -> str:
    return str(int(value)) if isinstance(value, int) or value.is_integer() else repr(value)


class _TelemetryCollector(Collector):
    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def collect(self) -> Iterator[Metric]:
        return self._telemetry.collect()
