"""Issue 15, item 1: SIGKILL the engine at random points of a run, restart it, deliver every signal again;
the broker ends with exactly one order per signal.

Each life of the engine gets the whole list of signals again (the publisher "retries" everything) and is
killed with SIGKILL at a random instant: while signals are read, while orders are in flight, between the
journal's fsync and the broker's answer, or idle. A last life runs to the end. The proof is read at the
broker: orders grouped by client order id (exactly one for each signal, none for anything else), and its
log of submissions (every accepted POST is a different order; no 422 for a repeated client order id, so
the engine's journal, not the broker's uniqueness check, is what stopped the repeats).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from tradebridge.contracts import Signal
from tradebridge_mocks.broker import MockBroker

from tests.faults.harness import coid, fault_seed, order_posts, orders_by_client_id, sigkill, signals, start

SIGNALS = 60


@pytest.mark.parametrize(
    ("kills", "journaled"),
    [
        pytest.param(3, True, id="3-kills"),
        pytest.param(3, False, id="3-kills-no-journal"),
        pytest.param(24, True, id="24-kills", marks=pytest.mark.stress),
        pytest.param(24, False, id="24-kills-no-journal", marks=pytest.mark.stress),
    ],
)
def test_sigkill_at_random_points_then_redelivery_orders_each_signal_once(
    tmp_path: Path, kills: int, journaled: bool
) -> None:
    """Without ``--journal`` the broker's 422 on a repeated client order id is what stops the repeats."""
    seed = fault_seed()
    rng = random.Random(seed)
    journal = ["--journal", str(tmp_path / "state" / "engine.journal")] if journaled else []
    batch = signals(f"k{seed}", SIGNALS)
    expected = {coid(s.signal_id) for s in batch if s.signal_id}
    with MockBroker(seed=seed, latency_ms=rng.choice([1, 3, 8])) as broker:
        broker.set_price("AAPL", 100.0)
        killed_at: list[float] = []
        for life in range(kills):
            engine = start(tmp_path, broker, *journal, name=f"life-{life}")
            sender = threading.Thread(
                target=lambda e=engine: _deliver(rng.random(), e.publisher.publish_signal, batch)
            )
            sender.start()
            after = rng.uniform(0.0, 0.2)
            time.sleep(after)
            sigkill(engine)
            killed_at.append(after)
            sender.join(10)
            assert not sender.is_alive()
            engine.publisher.close()
        last = start(tmp_path, broker, *journal, name="last")
        try:
            _deliver(0.0, last.publisher.publish_signal, batch)
            metrics = last.wait_metrics(
                lambda m: int(m["signals_received"]) == SIGNALS and m["orders_open"] == "0", timeout=30
            )
        finally:
            assert last.stop() == 0
        held = orders_by_client_id(broker)
        posts = order_posts(broker)
    duplicated = {c: n for c, n in held.items() if n > 1}
    assert duplicated == {}, f"seed {seed}: duplicated orders {duplicated}"
    assert set(held) == expected, f"seed {seed}: lost {expected - set(held)}, foreign {set(held) - expected}"
    accepted = [c for status, c in posts if status == 200]
    assert sorted(accepted, key=str) == sorted(expected), f"seed {seed}: {len(accepted)} accepted submissions"
    repeated = [c for status, c in posts if status == 422]
    if journaled:
        assert repeated == [], f"seed {seed}: the broker had to refuse repeated client order ids: {repeated}"
        # The last life found every earlier signal in the journal (or ordered the few the kills left unsent).
        assert int(metrics["duplicates_from_journal"]) + int(metrics["orders_submitted"]) == SIGNALS, metrics
    else:
        # Every repeat reached the broker and was refused there; each counted, none ordered twice.
        assert int(metrics["duplicates_from_broker"]) + int(metrics["orders_acknowledged"]) == SIGNALS, (
            metrics
        )
    # Across all lives: accepted entries a kill left unanswered, found at the broker or not at restart.
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    found, unsent = logs.count("placed=true"), logs.count("placed=false")
    print(
        f"seed {seed}: all lives reconciled {found} unanswered journal entries found at the broker and "
        f"{unsent} not sent; "
        f"{kills} SIGKILLs at {[round(t * 1000) for t in killed_at]} ms; {len(held)} orders for "
        f"{SIGNALS} signals, 0 duplicated, 0 lost; {len(repeated)} repeats refused by the broker (422); "
        f"last life: {metrics['duplicates_from_journal']} refused as "
        f"journal duplicates, {metrics['orders_submitted']} submitted, journal entries found at the broker "
        f"{metrics['journal_found_at_broker']}, not there {metrics['journal_not_at_broker']}"
    )


def _deliver(pace: float, publish: Callable[[Signal], object], batch: Sequence[Signal]) -> None:
    """Every signal, in order, with small random gaps (``pace`` 0: as fast as possible)."""
    gaps = random.Random(pace)
    for s in batch:
        publish(s)
        if pace:
            time.sleep(gaps.uniform(0, 0.004))
