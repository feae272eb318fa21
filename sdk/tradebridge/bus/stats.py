"""What a subscriber saw: counters that make loss visible, and never invent it.

Every publisher numbers its messages per topic (``seq`` 0, 1, 2, ...) and stamps them with its instance id
(``source``). Several publishers may share a topic (N strategies feeding one engine), so a subscriber
follows each ``(topic, source)`` *stream* on its own and counts:

- a *gap* when a stream skips numbers (``dropped`` grows by how many were skipped): the high-water mark of
  a slow subscriber, or a network hiccup. Messages of other sources in between are no gap.
- a *restart* when a stream's number goes back (ZeroMQ never repeats or reorders within a stream): the
  same source started over, i.e. a publisher restarted with a fixed ``source=``. If its first number seen
  again is not 0, the numbers before it were lost: a gap too. (Two live publishers sharing one ``source``
  is a misconfiguration these restarts make loud.) The default ``source`` is new for every instance, so
  a restarted default publisher is a new source, not a restart.
- a new *source* (``sources``) the first time a stream is seen. Its first number is never loss: it may
  have published before we joined. The numbers it had used are reported as ``missed_at_join``, a hint
  and not ``dropped``: the bus cannot tell joining late from a slow joiner's loss.

Streams are kept in a least-recently-used table of at most ``max_sources`` entries (``BusOptions.
max_sources``), so a subscriber fed by ever new publisher ids keeps bounded memory; ``sources_evicted``
counts what it forgot (a forgotten source that comes back is a new source again). Messages without
``seq`` (the guide's plain peers) are counted as received and never as loss.

``out_of_order`` is kept in the shape for compatibility and stays 0: a backwards number is a restart.

What a subscriber forgave is counted too: ``legacy`` (signals tagged ``SignalGenerated``, the original
bridge's name, read as ``Signal``) and ``nan_tokens`` (bare ``NaN`` features read as null, only with
``BusOptions.allow_nan_tokens``). ``transit`` is the histogram of ``now - sent_at_us`` over the messages
that carry the v1.1 stamp (see :class:`TransitHistogram`).
The rules are the same in Rust (``tradebridge_bus::SubscriberStats``); the scenarios in
``conformance/transport/loss_accounting/`` pin them for both.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from msgspec import UnsetType

if TYPE_CHECKING:
    from tradebridge._native import Receiver

__all__ = [
    "DEFAULT_MAX_SOURCES",
    "TRANSIT_BUCKETS_US",
    "NativeSubscriberStats",
    "PublisherStats",
    "SequenceTracker",
    "SourceStats",
    "SubscriberStats",
    "TopicStats",
    "TransitHistogram",
]

#: streams a subscriber follows before forgetting the least recently heard (BusOptions.max_sources)
DEFAULT_MAX_SOURCES: Final = 4096


#: Upper bounds (microseconds, inclusive) of the transit buckets: powers of two from 1 µs to 2**23 µs
#: (8.4 s), the same in Rust (``tradebridge_bus::TRANSIT_BUCKETS_US``). Powers of two make the bucket of a
#: value one ``bit_length()``, a few nanoseconds on every message, at a relative resolution of 2x, which is
#: what p50/p99 of a transit need (is it 20 µs or 2 ms?).
TRANSIT_BUCKETS_US: Final[tuple[int, ...]] = tuple(1 << k for k in range(24))
_TRANSIT_TOP: Final = len(TRANSIT_BUCKETS_US)


class TransitHistogram:
    """Transit times ``now - sent_at_us`` in microseconds, in :data:`TRANSIT_BUCKETS_US` buckets.

    ``sent_at_us`` is the publisher's wall clock, so across hosts a transit is only as exact as their clock
    sync: a sender whose clock runs ahead makes negative transits, which are counted in ``negative`` and
    kept out of the buckets (they would otherwise all read as 0). Values past the last bucket are counted
    in ``count`` only (Prometheus' ``+Inf``). Written by the receiving thread only; a snapshot from another
    thread copies the bucket list (one C-level copy) and may be one message behind.
    """

    __slots__ = ("counts", "negative", "sum_us")

    def __init__(self) -> None:
        #: one count per bucket, plus the overflow at the end
        self.counts = [0] * (_TRANSIT_TOP + 1)
        self.sum_us = 0
        self.negative = 0

    @property
    def count(self) -> int:
        """Transits observed (negative ones left out): the sum of the buckets, kept by no counter of its
        own so that observing is one increment less."""
        return sum(list(self.counts))

    def observe(self, micros: int) -> None:
        """Record one transit (integer microseconds). The subscriber inlines this; keep the two equal."""
        if micros < 0:
            self.negative += 1
            return
        index = (micros - 1).bit_length() if micros > 0 else 0
        self.counts[index if index < _TRANSIT_TOP else _TRANSIT_TOP] += 1
        self.sum_us += micros

    def quantile_us(self, q: float) -> int | None:
        """The upper bound (µs) of the bucket holding the ``q`` quantile (None when nothing was seen, or
        when it lies past the last bucket: more than 8.4 s)."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"a quantile is within 0..1, got {q}")
        counts = list(self.counts)
        total = sum(counts)
        if total == 0:
            return None
        rank = max(1, math.ceil(q * total))
        running = 0
        for bound, count in zip(TRANSIT_BUCKETS_US, counts, strict=False):
            running += count
            if running >= rank:
                return bound
        return None

    def p50_us(self) -> int | None:
        return self.quantile_us(0.5)

    def p99_us(self) -> int | None:
        return self.quantile_us(0.99)

    def cumulative_buckets(self) -> list[tuple[float, int]]:
        """``(upper bound in seconds, observations <= it)`` for Prometheus, without ``+Inf`` (``count``)."""
        counts = list(self.counts)
        running = 0
        out = []
        for bound, count in zip(TRANSIT_BUCKETS_US, counts, strict=False):
            running += count
            out.append((bound / 1e6, running))
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "count": self.count,
            "sum_us": self.sum_us,
            "negative": self.negative,
            "p50_us": self.p50_us(),
            "p99_us": self.p99_us(),
            "buckets_us": {str(b): c for b, c in zip(TRANSIT_BUCKETS_US, list(self.counts), strict=False)},
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TransitHistogram):
            return NotImplemented
        return (self.counts, self.sum_us, self.negative) == (other.counts, other.sum_us, other.negative)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TransitHistogram(count={self.count}, p50_us={self.p50_us()}, p99_us={self.p99_us()})"


@dataclass(slots=True)
class SourceStats:
    """Counters of one ``(topic, source)`` stream (numbered messages only)."""

    received: int = 0
    gaps: int = 0
    dropped: int = 0
    restarts: int = 0
    #: the first ``seq`` seen from this source (``missed_at_join`` adds it up)
    first_seq: int = 0
    last_seq: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "gaps": self.gaps,
            "dropped": self.dropped,
            "restarts": self.restarts,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }


@dataclass(slots=True)
class TopicStats:
    """Counters of one topic, all its sources together."""

    received: int = 0
    gaps: int = 0
    dropped: int = 0
    restarts: int = 0
    out_of_order: int = 0
    sources: int = 0
    missed_at_join: int = 0
    #: the ``seq`` of the last numbered message on this topic, ``None`` before the first
    last_seq: int | None = None
    #: the source of that message
    source: str | None = None


@dataclass(slots=True)
class SubscriberStats:
    """Counters of one subscriber; ``topics`` has them per topic and ``by_source`` per stream.

    ``dropped`` counts only the loss the numbering proves. ``malformed`` frames are skipped and counted by
    error code in ``malformed_by_code``; ``too_large`` repeats the ``too_large`` ones (frames above
    ``BusOptions.max_message_bytes``) as a top-level number, so health metrics show it. ``filtered``
    counts frames ZeroMQ's prefix filter let through whose topic was not one we asked for (``signals``
    when subscribed to ``signal``). ``legacy`` and ``nan_tokens`` count what was forgiven (module
    docstring); ``transit`` is the histogram of transit times (``transit.p50_us()``, ``p99_us()``).
    ``by_source`` maps ``(topic, source)`` to that stream's counters,
    least recently heard first, at most ``BusOptions.max_sources`` of them.
    """

    received: int = 0
    malformed: int = 0
    gaps: int = 0
    dropped: int = 0
    restarts: int = 0
    out_of_order: int = 0
    filtered: int = 0
    too_large: int = 0
    sources: int = 0
    sources_evicted: int = 0
    missed_at_join: int = 0
    legacy: int = 0
    nan_tokens: int = 0
    malformed_by_code: dict[str, int] = field(default_factory=dict)
    topics: dict[str, TopicStats] = field(default_factory=dict)
    by_source: OrderedDict[tuple[str, str | None], SourceStats] = field(default_factory=OrderedDict)
    transit: TransitHistogram = field(default_factory=TransitHistogram)

    def refused(self, code: str) -> None:
        """Count one refused frame under its contract error code."""
        self.malformed += 1
        self.malformed_by_code[code] = self.malformed_by_code.get(code, 0) + 1
        if code == "too_large":
            self.too_large += 1

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready snapshot (for logs, health metrics and the conformance report). ``by_source`` is
        ``{topic: {source: counters}}``; a stream without ``source`` is listed under ``""``."""
        # one C-level copy each: the receiving thread may add entries while another thread reads
        streams = list(self.by_source.items())
        topics = list(self.topics.items())
        by_source: dict[str, dict[str, dict[str, int]]] = {}
        for (topic, source), stream in streams:
            by_source.setdefault(topic, {})[source or ""] = stream.as_dict()
        return {
            "received": self.received,
            "malformed": self.malformed,
            "gaps": self.gaps,
            "dropped": self.dropped,
            "restarts": self.restarts,
            "out_of_order": self.out_of_order,
            "filtered": self.filtered,
            "too_large": self.too_large,
            "sources": self.sources,
            "sources_evicted": self.sources_evicted,
            "missed_at_join": self.missed_at_join,
            "legacy": self.legacy,
            "nan_tokens": self.nan_tokens,
            "transit": self.transit.as_dict(),
            "malformed_by_code": dict(self.malformed_by_code),
            "topics": {
                name: {
                    "received": t.received,
                    "gaps": t.gaps,
                    "dropped": t.dropped,
                    "restarts": t.restarts,
                    "out_of_order": t.out_of_order,
                    "sources": t.sources,
                    "missed_at_join": t.missed_at_join,
                    "last_seq": t.last_seq,
                    "source": t.source,
                }
                for name, t in topics
            },
            "by_source": by_source,
        }


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """A snapshot of a publisher's counters: messages published, in total and per topic, the live
    subscriptions it has seen (see ``wait_for_subscribers``), and the start-up hold (``BusOptions.
    startup_grace``): messages ``held`` for a first subscriber right now, and those it had to drop
    (``dropped``: its queue was full, nobody subscribed within the grace, or no subscription matched
    their topic)."""

    published: int
    subscriptions: int
    topics: dict[str, int]
    dropped: int = 0
    held: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "published": self.published,
            "subscriptions": self.subscriptions,
            "dropped": self.dropped,
            "held": self.held,
            "topics": dict(self.topics),
        }


class SequenceTracker:
    """Updates :class:`SubscriberStats` from each delivered message's topic, ``seq`` and ``source``."""

    __slots__ = ("_last_source", "_last_stream", "_last_topic", "max_sources", "stats")

    def __init__(self, stats: SubscriberStats, max_sources: int = DEFAULT_MAX_SOURCES) -> None:
        if max_sources < 1:
            raise ValueError(f"max_sources must be >= 1, got {max_sources}")
        self.stats = stats
        self.max_sources = max_sources
        # the stream of the previous message: a run from one source skips the table look-up and reorder
        self._last_topic: str | None = None
        self._last_source: str | UnsetType | None = None
        self._last_stream: SourceStats | None = None

    def observe(self, topic: str, seq: int | UnsetType | None, source: str | UnsetType | None) -> None:
        """Count one delivered message; without ``seq`` (None or msgspec's UNSET) it is a plain peer's
        message: received, never loss."""
        stats = self.stats
        stats.received += 1
        topic_stats = stats.topics.get(topic)
        if topic_stats is None:
            topic_stats = stats.topics[topic] = TopicStats()
        topic_stats.received += 1
        if seq.__class__ is not int:  # the hot path avoids isinstance on UNSET
            return
        number: int = seq
        topic_stats.last_seq = number
        stream = self._last_stream
        if stream is None or source != self._last_source or topic != self._last_topic:
            stream = self._switch(topic, number, source, topic_stats)
            if stream is None:
                return
        stream.received += 1
        last = stream.last_seq
        stream.last_seq = number
        if number == last + 1:
            return
        if number > last:
            self._gap(stream, topic_stats, number - last - 1)
            return
        stream.restarts += 1
        topic_stats.restarts += 1
        self.stats.restarts += 1
        if number > 0:  # the restarted run's first numbers never reached us
            self._gap(stream, topic_stats, number)

    def _switch(
        self, topic: str, seq: int, source: str | UnsetType | None, topic_stats: TopicStats
    ) -> SourceStats | None:
        """The stream of a message from another source than the previous one: looked up (and made the
        most recent), or opened (None: nothing more to count)."""
        name = source if isinstance(source, str) else None
        topic_stats.source = name
        key = (topic, name)
        streams = self.stats.by_source
        stream = streams.get(key)
        if stream is None:
            stream = SourceStats(received=1, first_seq=seq, last_seq=seq)
            streams[key] = stream
            stats = self.stats
            stats.sources += 1
            topic_stats.sources += 1
            stats.missed_at_join += seq
            topic_stats.missed_at_join += seq
            while len(streams) > self.max_sources:
                streams.popitem(last=False)  # never the new one: max_sources >= 1
                stats.sources_evicted += 1
            self._last_topic, self._last_source, self._last_stream = topic, source, stream
            return None
        streams.move_to_end(key)
        self._last_topic, self._last_source, self._last_stream = topic, source, stream
        return stream

    def _gap(self, stream: SourceStats, topic_stats: TopicStats, missing: int) -> None:
        stream.gaps += 1
        stream.dropped += missing
        topic_stats.gaps += 1
        topic_stats.dropped += missing
        self.stats.gaps += 1
        self.stats.dropped += missing


class _NativeTransit(TransitHistogram):
    """A subscriber's :class:`TransitHistogram` as the extension keeps it (``tradebridge._native.Receiver``,
    i.e. ``tradebridge_bus::TransitHistogram``): every read is a fresh copy, safe from any thread."""

    __slots__ = ("_receiver",)

    def __init__(self, receiver: Receiver) -> None:  # the parent's buckets stay unused
        self._receiver = receiver

    @property
    def counts(self) -> list[int]:  # type: ignore[override]
        return self._receiver.transit()[0]

    @property
    def sum_us(self) -> int:  # type: ignore[override]
        return self._receiver.transit()[1]

    @property
    def negative(self) -> int:  # type: ignore[override]
        return self._receiver.transit()[2]

    def observe(self, micros: int) -> None:
        self._receiver.observe_transit(micros)

    def __reduce__(self) -> tuple[Any, ...]:
        # a copy or a pickle is a plain snapshot: the extension's object does not travel
        return (_plain_transit, self._receiver.transit())


def _plain_transit(counts: list[int], sum_us: int, negative: int) -> TransitHistogram:
    histogram = TransitHistogram()
    histogram.counts, histogram.sum_us, histogram.negative = list(counts), sum_us, negative
    return histogram


def _counter(name: str) -> property:
    def read(self: NativeSubscriberStats) -> int:
        return self._receiver.counter(name)

    return property(read, doc=f"``{name}``, as the extension counts it")


class NativeSubscriberStats(SubscriberStats):
    """A subscriber's :class:`SubscriberStats` kept by the extension (``tradebridge._native.Receiver``,
    whose counters are ``tradebridge_bus::SubscriberStats``: the Rust subscriber's own, one implementation
    of the rules for both languages). It reads like the dataclass, live: the counters are the extension's
    at the moment they are read, ``topics``, ``by_source`` and ``transit`` are fresh snapshots (copies,
    safe to read from another thread: a health server's). ``legacy`` and ``nan_tokens`` are the signal
    decoder's own counters."""

    __slots__ = ("_forgiving", "_receiver", "_transit_view")

    def __init__(self, receiver: Receiver, forgiving: Any = None) -> None:
        # the dataclass' own fields stay unset: every one is read from the extension
        self._receiver = receiver
        self._forgiving = forgiving  # the decoder that counts ``legacy`` and ``nan_tokens`` (a Signal's)
        self._transit_view = _NativeTransit(receiver)

    received = _counter("received")
    malformed = _counter("malformed")
    gaps = _counter("gaps")
    dropped = _counter("dropped")
    restarts = _counter("restarts")
    out_of_order = _counter("out_of_order")
    filtered = _counter("filtered")
    too_large = _counter("too_large")
    sources = _counter("sources")
    sources_evicted = _counter("sources_evicted")
    missed_at_join = _counter("missed_at_join")

    @property
    def legacy(self) -> int:  # type: ignore[override]
        return 0 if self._forgiving is None else int(self._forgiving.legacy)

    @property
    def nan_tokens(self) -> int:  # type: ignore[override]
        return 0 if self._forgiving is None else int(self._forgiving.nan_tokens)

    @property
    def malformed_by_code(self) -> dict[str, int]:  # type: ignore[override]
        return self._receiver.malformed_by_code()

    @property
    def topics(self) -> dict[str, TopicStats]:  # type: ignore[override]
        return {name: TopicStats(*row) for name, row in self._receiver.topics().items()}

    @property
    def by_source(self) -> OrderedDict[tuple[str, str | None], SourceStats]:  # type: ignore[override]
        return OrderedDict(
            ((topic, source), SourceStats(*counts)) for topic, source, *counts in self._receiver.streams()
        )

    @property
    def transit(self) -> TransitHistogram:  # type: ignore[override]
        return self._transit_view

    def refused(self, code: str) -> None:
        self._receiver.refused(code)

    def __reduce__(self) -> tuple[Any, ...]:
        # a copy or a pickle is a plain snapshot: the extension's object does not travel
        return (SubscriberStats, tuple(copy.copy(getattr(self, f)) for f in _FIELDS))


_FIELDS: Final = tuple(SubscriberStats.__dataclass_fields__)
