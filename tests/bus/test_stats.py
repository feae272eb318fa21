"""Gap, drop and restart accounting of a subscriber, without sockets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import UNSET
from tradebridge.bus.stats import SequenceTracker, SubscriberStats


def tracker() -> SequenceTracker:
    return SequenceTracker(SubscriberStats())


def test_consecutive_numbers_are_no_loss() -> None:
    t = tracker()
    for seq in range(10):
        t.observe("market", seq, "a")
    s = t.stats
    assert (s.received, s.gaps, s.dropped, s.restarts) == (10, 0, 0, 0)
    assert s.topics["market"].last_seq == 9


def test_a_skip_is_one_gap_of_the_skipped_count() -> None:
    t = tracker()
    for seq in [0, 1, 5, 6, 9]:
        t.observe("market", seq, "a")
    assert (t.stats.gaps, t.stats.dropped) == (2, 3 + 2)
    assert (t.stats.topics["market"].gaps, t.stats.topics["market"].dropped) == (2, 5)


def test_topics_are_numbered_independently() -> None:
    t = tracker()
    for topic, seq in [("market", 0), ("signal", 0), ("market", 1), ("signal", 1)]:
        t.observe(topic, seq, "a")
    assert t.stats.gaps == 0
    assert t.stats.topics["signal"].received == 2


def test_joining_late_is_not_loss() -> None:
    t = tracker()
    t.observe("market", 1234, "a")
    t.observe("market", 1235, "a")
    assert (t.stats.gaps, t.stats.dropped) == (0, 0)


def test_a_second_source_on_a_topic_is_a_new_stream_not_a_restart() -> None:
    t = tracker()
    for seq in range(3):
        t.observe("market", seq, "a")
    t.observe("market", 4, "b")  # b published 0..3 before we heard from it: not provably lost
    t.observe("market", 5, "b")
    t.observe("market", 3, "a")  # a goes on where it was
    s = t.stats
    assert (s.restarts, s.gaps, s.dropped, s.out_of_order) == (0, 0, 0, 0)
    assert (s.sources, s.missed_at_join) == (2, 4)
    assert s.topics["market"].source == "a" and s.topics["market"].sources == 2
    assert s.by_source[("market", "b")].first_seq == 4


def test_the_same_source_going_back_is_a_restart_and_its_unseen_start_a_gap() -> None:
    t = tracker()
    for seq in [5, 6, 7, 0, 1, 2, 0, 3]:
        t.observe("market", seq, "a")
    s = t.stats
    # 7 -> 0: a clean restart; 2 -> 0: another; 0 -> 3: a gap of 2 within the new run
    assert (s.restarts, s.gaps, s.dropped) == (2, 1, 2)
    t.observe("market", 2, "a")  # back again, to 2: restarted, its 0 and 1 lost
    assert (s.restarts, s.gaps, s.dropped) == (3, 2, 4)
    assert s.by_source[("market", "a")].restarts == 3 and s.out_of_order == 0


def test_the_table_of_sources_is_bounded_and_evictions_counted() -> None:
    t = SequenceTracker(SubscriberStats(), max_sources=3)
    for source in "abcd":
        t.observe("market", 0, source)
    t.observe("market", 1, "b")  # b is now the most recent: c goes next
    t.observe("market", 0, "e")
    s = t.stats
    assert list(s.by_source) == [("market", "d"), ("market", "b"), ("market", "e")]
    assert (s.sources, s.sources_evicted) == (5, 2)
    t.observe("market", 1, "a")  # forgotten, so new again: no loss claimed
    assert (s.sources, s.sources_evicted, s.gaps, s.missed_at_join) == (6, 3, 0, 1)
    with pytest.raises(ValueError, match="max_sources"):
        SequenceTracker(SubscriberStats(), max_sources=0)


def test_plain_peers_without_numbering_are_received_never_lost() -> None:
    t = tracker()
    t.observe("signal", UNSET, UNSET)
    t.observe("signal", None, None)
    assert (t.stats.received, t.stats.gaps, t.stats.sources) == (2, 0, 0)


def test_as_dict_is_json_ready() -> None:
    t = tracker()
    t.observe("market", 0, "a")
    t.observe("market", 3, "a")
    t.observe("signal", 7, UNSET)
    body = t.stats.as_dict()
    assert body["dropped"] == 2 and body["sources"] == 2 and body["too_large"] == 0
    assert body["topics"]["market"] == {
        "received": 2,
        "gaps": 1,
        "dropped": 2,
        "restarts": 0,
        "out_of_order": 0,
        "sources": 1,
        "missed_at_join": 0,
        "last_seq": 3,
        "source": "a",
    }
    assert body["by_source"] == {
        "market": {
            "a": {"received": 2, "gaps": 1, "dropped": 2, "restarts": 0, "first_seq": 0, "last_seq": 3}
        },
        "signal": {
            "": {"received": 1, "gaps": 0, "dropped": 0, "restarts": 0, "first_seq": 7, "last_seq": 7}
        },
    }
    assert json.loads(json.dumps(body)) == body


@settings(max_examples=200, deadline=None)
@given(total=st.integers(1, 300), data=st.data())
def test_dropped_counts_exactly_what_was_removed_between_the_first_and_last(
    total: int, data: st.DataObject
) -> None:
    kept = data.draw(st.lists(st.booleans(), min_size=total, max_size=total))
    kept[0] = kept[-1] = True  # loss at the very start or end is invisible by construction
    t = tracker()
    for seq in range(total):
        if kept[seq]:
            t.observe("market", seq, "a")
    assert t.stats.dropped == kept.count(False)
    assert t.stats.received == kept.count(True)
    runs = sum(1 for i in range(1, total) if not kept[i] and kept[i - 1])
    assert t.stats.gaps == runs


@settings(max_examples=100, deadline=None)
@given(data=st.data(), sources=st.integers(1, 60))
def test_any_interleaving_of_sources_invents_no_loss_and_keeps_real_loss_exact(
    sources: int, data: st.DataObject
) -> None:
    # each source's own stream in order, with some numbers removed; the streams interleaved at random
    streams = []
    removed = 0
    for s in range(sources):
        length = data.draw(st.integers(1, 40))
        kept = data.draw(st.lists(st.booleans(), min_size=length, max_size=length))
        kept[0] = kept[-1] = True
        removed += kept.count(False)
        streams.append([(f"src-{s}", seq) for seq in range(length) if kept[seq]])
    order = data.draw(st.permutations([i for i, stream in enumerate(streams) for _ in stream]))
    t = tracker()
    cursors = [0] * sources
    for i in order:
        source, seq = streams[i][cursors[i]]
        cursors[i] += 1
        t.observe("signal", seq, source)
    s = t.stats
    assert (s.restarts, s.dropped, s.sources, s.missed_at_join) == (0, removed, sources, 0)
    assert s.received == sum(len(stream) for stream in streams)
