"""Gap, drop and restart accounting of a subscriber, without sockets."""

from __future__ import annotations

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


def test_a_new_source_is_a_restart_and_its_missed_start_is_a_gap() -> None:
    t = tracker()
    for seq in range(3):
        t.observe("market", seq, "a")
    t.observe("market", 4, "b")  # b's 0..3 were sent before we reconnected
    t.observe("market", 5, "b")
    s = t.stats
    assert (s.restarts, s.gaps, s.dropped) == (1, 1, 4)
    assert s.topics["market"].source == "b"


def test_a_restart_caught_from_its_first_message_loses_nothing() -> None:
    t = tracker()
    t.observe("market", 7, "a")
    t.observe("market", 0, "b")
    assert (t.stats.restarts, t.stats.gaps) == (1, 0)


def test_backwards_within_a_source_is_out_of_order_not_loss() -> None:
    t = tracker()
    for seq in [0, 1, 2, 1]:
        t.observe("market", seq, "a")
    assert (t.stats.out_of_order, t.stats.gaps, t.stats.topics["market"].last_seq) == (1, 0, 2)


def test_plain_peers_without_numbering_are_received_never_lost() -> None:
    t = tracker()
    t.observe("signal", UNSET, UNSET)
    t.observe("signal", None, None)
    assert (t.stats.received, t.stats.gaps) == (2, 0)


def test_as_dict_is_json_ready() -> None:
    t = tracker()
    t.observe("market", 0, "a")
    t.observe("market", 3, "a")
    body = t.stats.as_dict()
    assert body["dropped"] == 2
    assert body["topics"] == {
        "market": {
            "received": 2,
            "gaps": 1,
            "dropped": 2,
            "restarts": 0,
            "out_of_order": 0,
            "last_seq": 3,
            "source": "a",
        }
    }


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
