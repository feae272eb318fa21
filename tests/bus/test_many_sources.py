"""Many publishers on one topic invent no loss; a real gap and a real restart among them count exactly."""

from __future__ import annotations

from tradebridge.bus import BusOptions
from tradebridge.bus.sync import ZMQSubscriber

from tests.bus.many_sources import GAP_SIZE, GAP_SOURCE, RESTART_SOURCE, ROUNDS, SOURCES, drive, source_name


def settle(sub: ZMQSubscriber, count: int) -> None:
    while sub.stats.received < count:
        assert sub.receive_one(timeout=10) is not None, f"{sub.stats.received} of {count}"


def test_fifty_interleaved_publishers_into_one_python_subscriber() -> None:
    with ZMQSubscriber("tcp://127.0.0.1:*", bind=True) as sub:
        sub.connect(["signal"])
        expected = drive(sub.endpoint, lambda: sub.receive_one(timeout=0.001), lambda n: settle(sub, n))
        settle(sub, expected.received)
        stats = sub.stats
    assert (stats.received, stats.gaps, stats.dropped, stats.restarts) == (
        expected.received,
        expected.gaps,
        expected.dropped,
        expected.restarts,
    )
    assert (stats.sources, stats.missed_at_join, stats.sources_evicted) == (SOURCES, 0, 0)
    gap = stats.by_source[("signal", source_name(GAP_SOURCE))]
    assert (gap.gaps, gap.dropped, gap.last_seq) == (1, GAP_SIZE, ROUNDS - 1 + GAP_SIZE)
    restarted = stats.by_source[("signal", source_name(RESTART_SOURCE))]
    assert (restarted.restarts, restarted.gaps, restarted.received) == (1, 0, ROUNDS)
    others = [
        s
        for (_, name), s in stats.by_source.items()
        if name not in {source_name(GAP_SOURCE), source_name(RESTART_SOURCE)}
    ]
    assert len(others) == SOURCES - 2
    assert all((s.received, s.gaps, s.restarts) == (ROUNDS, 0, 0) for s in others)


def test_a_bounded_table_forgets_sources_without_inventing_loss() -> None:
    with ZMQSubscriber("tcp://127.0.0.1:*", bind=True, options=BusOptions(max_sources=8)) as sub:
        sub.connect(["signal"])
        expected = drive(sub.endpoint, lambda: sub.receive_one(timeout=0.001), lambda n: settle(sub, n))
        settle(sub, expected.received)
        stats = sub.stats
    assert len(stats.by_source) == 8 and stats.sources_evicted == stats.sources - 8
    # every source comes back after being forgotten: new again, its number so far a join, never a drop
    assert (stats.restarts, stats.dropped) == (0, 0)
    assert stats.missed_at_join > 0
