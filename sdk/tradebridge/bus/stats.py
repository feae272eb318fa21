"""What a subscriber saw: counters that make loss visible.

Every publisher numbers its messages per topic (``seq`` 0, 1, 2, ...) and stamps them with its instance id
(``source``). A subscriber follows each ``(topic, source)`` stream and counts:

- a *gap* when a number is skipped (``dropped`` grows by how many were skipped): the high-water mark of a
  slow subscriber, or a network hiccup;
- a *restart* when a new ``source`` appears on a topic that already had one: a publisher came back (or a
  second one joined). If its first message is not ``seq`` 0, what it sent before we reconnected is a gap
  too. The very first stream of a topic is not a gap whatever its first number: joining late is not loss.
- a *duplicate or reordered* message when a number goes backwards within one stream (which ZeroMQ
  pub/sub never does by itself: it means two publishers share one ``source``).

Messages without ``seq`` (the guide's plain peers) are counted as received and never as loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from msgspec import UnsetType

__all__ = ["PublisherStats", "SequenceTracker", "SubscriberStats", "TopicStats"]


@dataclass(slots=True)
class TopicStats:
    """Counters of one topic."""

    received: int = 0
    gaps: int = 0
    dropped: int = 0
    restarts: int = 0
    out_of_order: int = 0
    #: the last ``seq`` seen on this topic (of the current source), ``None`` before the first numbered one
    last_seq: int | None = None
    #: the instance id of the publisher currently seen on this topic
    source: str | None = None


@dataclass(slots=True)
class SubscriberStats:
    """Counters of one subscriber; ``topics`` has the same counters per topic.

    ``dropped`` counts only the loss the numbering proves; ``malformed`` frames are skipped and counted by
    error code in ``malformed_by_code``; ``filtered`` counts frames ZeroMQ's prefix filter let through whose
    topic was not one we asked for (``signals`` when subscribed to ``signal``).
    """

    received: int = 0
    malformed: int = 0
    gaps: int = 0
    dropped: int = 0
    restarts: int = 0
    out_of_order: int = 0
    filtered: int = 0
    malformed_by_code: dict[str, int] = field(default_factory=dict)
    topics: dict[str, TopicStats] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready snapshot (for logs, health metrics and the conformance report)."""
        return {
            "received": self.received,
            "malformed": self.malformed,
            "gaps": self.gaps,
            "dropped": self.dropped,
            "restarts": self.restarts,
            "out_of_order": self.out_of_order,
            "filtered": self.filtered,
            "malformed_by_code": dict(self.malformed_by_code),
            "topics": {
                name: {
                    "received": t.received,
                    "gaps": t.gaps,
                    "dropped": t.dropped,
                    "restarts": t.restarts,
                    "out_of_order": t.out_of_order,
                    "last_seq": t.last_seq,
                    "source": t.source,
                }
                for name, t in self.topics.items()
            },
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

    __slots__ = ("stats",)

    def __init__(self, stats: SubscriberStats) -> None:
        self.stats = stats

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
        assert isinstance(seq, int)
        last = topic_stats.last_seq
        if source == topic_stats.source and last is not None:
            if seq == last + 1:
                topic_stats.last_seq = seq
            elif seq > last:
                self._gap(topic_stats, seq - last - 1)
                topic_stats.last_seq = seq
            else:
                topic_stats.out_of_order += 1
                stats.out_of_order += 1
            return
        source = source if isinstance(source, str) else None
        if topic_stats.source is not None and source != topic_stats.source:
            topic_stats.restarts += 1
            stats.restarts += 1
            if seq > 0:
                self._gap(topic_stats, seq)
        topic_stats.source = source
        topic_stats.last_seq = seq

    def _gap(self, topic_stats: TopicStats, missing: int) -> None:
        topic_stats.gaps += 1
        topic_stats.dropped += missing
        self.stats.gaps += 1
        self.stats.dropped += missing
