"""The strategy's bookkeeping with the real Rust feature computer: warm-up, signals, order outcomes."""

from __future__ import annotations

import time

import msgspec
from tradebridge.contracts import BarUpdate, OrderUpdate, Signal
from tradebridge.demo.strategy import MomentumStrategy, StrategyConfig
from tradebridge_mocks.market import RandomWalk


def strategy() -> MomentumStrategy:
    return MomentumStrategy(
        StrategyConfig(
            market_endpoint="", signal_endpoint="", order_endpoint="", symbols=("AAPL",), run_id="t"
        )
    )


def signals_from(s: MomentumStrategy, bars: int) -> list[Signal]:
    walk = RandomWalk("AAPL", seed=5)
    chunk = walk.next_bars(bars)
    out = []
    for i in range(len(chunk)):
        bar = BarUpdate(
            symbol="AAPL",
            open=float(chunk.open[i]),
            high=float(chunk.high[i]),
            low=float(chunk.low[i]),
            close=float(chunk.close[i]),
            volume=float(chunk.volume[i]),
            timestamp=int(chunk.timestamp[i]),
        )
        signal = s.on_bar(bar, time.perf_counter_ns())
        s.update_health()
        if signal is not None:
            out.append(signal)
    return out


def update(signal: Signal, status: str, filled: float, reason: str | None = None) -> OrderUpdate:
    assert signal.metadata is not None
    coid = f"tb-{signal.metadata['signal_id']}"
    return OrderUpdate(
        order_id="o-" + coid,
        client_order_id=coid,
        symbol=signal.symbol,
        side="buy" if signal.direction == "long" else "sell",
        qty=5.0,
        filled_qty=filled,
        filled_avg_price=100.0 if filled else None,
        status=status,
        timestamp=int(time.time() * 1000),
        **({"reason": reason} if reason else {}),
    )


def test_not_ready_until_warm_then_signals_carry_what_the_engine_needs() -> None:
    s = strategy()
    assert signals_from(s, 20) == []  # MACD needs 34 bars: no score yet
    assert not s.health.ready and s.warm == set()
    signals = signals_from(s, 400)
    assert s.health.ready and s.warm == {"AAPL"}
    assert len(signals) >= 2
    for signal in signals:
        assert signal.metadata is not None
        assert signal.metadata["signal_id"].startswith("t-")
        assert signal.metadata["price"] > 0
        assert 0.5 < signal.strength <= 1.0
        assert abs(signal.timestamp - time.time() * 1000) < 60_000  # wall clock, not market time
    assert s.health.metrics["pending_signals"] == str(len(signals))


def test_outcomes_are_counted_once_and_latency_hops_recorded() -> None:
    s = strategy()
    first, second, *_ = signals_from(s, 400)
    for sig in (first, second):
        s.records[sig.metadata["signal_id"]].t_signal = time.perf_counter_ns()  # type: ignore[index]
    pending = s.pending()
    s.on_order_update(update(first, "new", 0.0), time.perf_counter_ns())
    s.on_order_update(update(first, "filled", 5.0), time.perf_counter_ns())
    s.on_order_update(update(first, "filled", 5.0), time.perf_counter_ns())  # a repeat changes nothing
    s.on_order_update(update(second, "rejected", 0.0, "risk:max_position"), time.perf_counter_ns())
    assert (s.pending(), s.fill_count, s.refused_count) == (pending - 2, 1, 1)
    hops = s.records[first.metadata["signal_id"]].hops_ms()  # type: ignore[index]
    assert set(hops) == {
        "bar_to_features",
        "features_to_signal",
        "signal_to_ack",
        "ack_to_fill",
        "bar_to_fill",
    }
    assert all(v >= 0 for v in hops.values())
    assert s.records[second.metadata["signal_id"]].reason == "risk:max_position"  # type: ignore[index]
    foreign = msgspec.structs.replace(update(first, "filled", 5.0), client_order_id="tb-other-1")
    s.on_order_update(foreign, time.perf_counter_ns())  # another strategy's order
    assert s.unmatched_updates == 1
    report = s.report()
    assert report["signals"] == len(s.records) and len(report["latency_ms"]["bar_to_features"]) == 400


def test_each_bar_is_kept_with_its_envelope_and_wall_clock_receive_time() -> None:
    s = strategy()
    walk = RandomWalk("AAPL", seed=5).next_bars(400)
    signal = None
    for i in range(400):
        bar = BarUpdate(
            symbol="AAPL",
            open=float(walk.open[i]),
            high=float(walk.high[i]),
            low=float(walk.low[i]),
            close=float(walk.close[i]),
            volume=float(walk.volume[i]),
            timestamp=int(walk.timestamp[i]),
            seq=1000 + i,
            source="py-pub",
        )
        signal = s.on_bar(bar, time.perf_counter_ns(), 1_700_000_000_000_000_000 + i) or signal
    receipts = s.report()["bar_receipts"]
    assert list(receipts) == ["py-pub"] and len(receipts["py-pub"]) == 400
    assert receipts["py-pub"][7] == [1007, 1_700_000_000_000_000_007]
    assert signal is not None and signal.metadata is not None
    record = s.records[signal.metadata["signal_id"]]
    assert record.bar_source == "py-pub" and record.bar_seq is not None and 1000 <= record.bar_seq < 1400
    # a bar without an envelope (not from the bus) is processed but has nothing to join on
    s.on_bar(msgspec.structs.replace(bar, seq=msgspec.UNSET, source=msgspec.UNSET), 0, 1)
    assert s.bars == 401 and len(s.report()["bar_receipts"]["py-pub"]) == 400
