"""The Rust subscriber (``bus-peer subscribe``) fed by 50 interleaved Python publishers on one topic: no
invented restart, gap or drop, and the one real gap and the one real restart counted exactly, as the
Python subscriber counts them (``tests/bus/test_many_sources.py``)."""

from __future__ import annotations

import time
from typing import Any

from tradebridge.testing import free_port

from conformance.transport.peers import peer
from tests.bus.many_sources import GAP_SIZE, GAP_SOURCE, RESTART_SOURCE, ROUNDS, SOURCES, drive, source_name


def test_fifty_interleaved_publishers_into_the_rust_subscriber(conformance_report: Any) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    total = SOURCES * ROUNDS
    args = ["subscribe", "--endpoint", endpoint, "--bind", "--topics", "signal", "--count", str(total)]
    with peer(args) as rust:
        assert rust.process.stderr is not None
        assert b"subscribed to" in rust.process.stderr.readline()  # bound: publishers may connect
        # the peer reads on its own, so the restarting publisher's last messages are read within
        # milliseconds of its close; half a second is the margin, not the expectation
        expected = drive(endpoint, lambda: time.sleep(0.001), lambda sent: time.sleep(0.5))
        result = rust.finish(timeout=30)
    assert result.returncode == 0, result.stderr
    assert expected.received == total
    stats = result.summary["stats"]
    conformance_report.record(
        "transport", "fifty_sources_rust_subscriber", {k: v for k, v in stats.items() if k != "by_source"}
    )
    assert (stats["received"], stats["gaps"], stats["dropped"], stats["restarts"]) == (
        expected.received,
        expected.gaps,
        expected.dropped,
        expected.restarts,
    )
    assert (stats["sources"], stats["missed_at_join"], stats["sources_evicted"]) == (SOURCES, 0, 0)
    streams = stats["by_source"]["signal"]
    assert len(streams) == SOURCES
    gap = streams[source_name(GAP_SOURCE)]
    assert (gap["gaps"], gap["dropped"], gap["last_seq"]) == (1, GAP_SIZE, ROUNDS - 1 + GAP_SIZE)
    restarted = streams[source_name(RESTART_SOURCE)]
    assert (restarted["restarts"], restarted["gaps"], restarted["received"]) == (1, 0, ROUNDS)
