"""The example strategy: its bookkeeping with the real Rust features, its public-only imports, and the
script itself on real sockets (bars in, signals out, order updates counted, health, a clean SIGTERM)."""

from __future__ import annotations

import ast
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import msgspec
import pytest
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import BarUpdate, OrderUpdate, Signal
from tradebridge.features import FeatureError
from tradebridge.health import HealthCheck
from tradebridge.testing import Service, free_port
from tradebridge_mocks.market import RandomWalk

from tests.examples.example import PATH, strategy

#: what the example may import besides the standard library: the SDK's public modules only
PUBLIC = {
    "tradebridge",
    "tradebridge.features",
    "tradebridge.bus",
    "tradebridge.health",
    "tradebridge.contracts",
}


def bars(count: int, symbol: str = "AAPL", seed: int = 5) -> Iterator[BarUpdate]:
    walk = RandomWalk(symbol, seed=seed).next_bars(count)
    for i in range(count):
        yield BarUpdate(
            symbol=symbol,
            open=float(walk.open[i]),
            high=float(walk.high[i]),
            low=float(walk.low[i]),
            close=float(walk.close[i]),
            volume=float(walk.volume[i]),
            timestamp=int(walk.timestamp[i]),
            seq=1000 + i,
            source="py-test",
        )


def new_strategy() -> object:
    return strategy.Strategy(HealthCheck.healthy("strategy"), ["AAPL"], 0.5, "t")


def update(made: Signal, status: str, filled: float, reason: str | None = None) -> OrderUpdate:
    coid = f"tb-{made.signal_id}"
    return OrderUpdate(
        order_id="o-" + coid,
        client_order_id=coid,
        symbol=made.symbol,
        side="buy" if made.direction == "long" else "sell",
        qty=5.0,
        filled_qty=filled,
        filled_avg_price=100.0 if filled else None,
        status=status,
        timestamp=int(time.time() * 1000),
        signal_id=made.signal_id,
        **({"reason": reason} if reason else {}),
    )


def test_not_ready_until_warm_then_signals_carry_what_the_engine_and_an_observer_need() -> None:
    s = new_strategy()
    stream = bars(400)
    assert [s.on_bar(b) for b in (next(stream) for _ in range(20))] == [None] * 20  # MACD needs 34 bars
    s.refresh_health()
    assert not s.health.ready and s.health.ready_reason == "warming up: 0/1 symbols warm"
    made = [m for b in stream if (m := s.on_bar(b)) is not None]
    s.refresh_health()
    assert s.health.ready and len(made) >= 2
    for signal_ in made:
        meta = signal_.metadata
        assert signal_.signal_id is not None and signal_.signal_id.startswith("t-")
        assert signal_.price is not None and signal_.price > 0
        assert meta is not None and meta.keys() == {"bar_source", "bar_seq"}  # the strategy's notes only
        assert meta["bar_source"] == "py-test" and 1020 <= meta["bar_seq"] < 1400
        assert 0.5 < signal_.strength <= 1.0 and len(signal_.features) == 12
        assert abs(signal_.timestamp - time.time() * 1000) < 60_000  # wall clock, not market time
    metrics = s.health.metrics
    assert (metrics["bars"], metrics["signals"], metrics["pending_signals"]) == (
        "400",
        str(len(made)),
        str(len(made)),
    )
    assert s.features_latency.count == 400


def test_each_outcome_is_counted_once() -> None:
    s = new_strategy()
    first, second, *rest = [m for b in bars(400) if (m := s.on_bar(b)) is not None]
    s.on_order_update(update(first, "new", 0.0))
    s.on_order_update(update(first, "filled", 5.0))
    s.on_order_update(update(first, "filled", 5.0))  # a repeat changes nothing
    s.on_order_update(update(second, "rejected", 0.0, "risk:max_position"))
    s.on_order_update(msgspec.structs.replace(update(first, "filled", 5.0), client_order_id="tb-other-1"))
    s.refresh_health()
    assert s.health.metrics["pending_signals"] == str(len(rest))
    assert (s.counts["fills"], s.counts["refused"]) == (1, 1)


def test_a_bar_the_feature_engine_refuses_is_an_error_not_a_signal() -> None:
    s = new_strategy()
    bad = next(bars(1))
    with pytest.raises(FeatureError):  # low above close: MarketBar refuses what the contract cannot express
        s.on_bar(msgspec.structs.replace(bad, low=bad.high + 1.0))


def test_the_example_imports_only_the_public_sdk_and_the_standard_library() -> None:
    tree = ast.parse(PATH.read_text())
    imported = {
        name
        for node in ast.walk(tree)
        for name in (
            [a.name for a in node.names] if isinstance(node, ast.Import)
            else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        )
    }  # fmt: skip
    ours = {m for m in imported if m.split(".")[0].startswith("tradebridge")}
    assert ours <= PUBLIC, ours - PUBLIC
    assert all(m.split(".")[0] in sys.stdlib_module_names for m in imported - ours), imported - ours
    assert not any(part.startswith("_") for m in imported for part in m.split(".") if part != "__future__")


def test_help_works_from_anywhere(tmp_path: object) -> None:
    done = subprocess.run(
        [sys.executable, str(PATH), "--help"], capture_output=True, text=True, timeout=60, cwd=str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    for flag in (
        "--market-endpoint",
        "--signal-endpoint",
        "--order-endpoint",
        "--health-port",
        "--threshold",
    ):
        assert flag in done.stdout


def test_the_script_on_real_sockets_trades_reports_and_stops_cleanly() -> None:
    market, signals, orders, health = (free_port() for _ in range(4))
    argv = [
        sys.executable, str(PATH), "--market-endpoint", f"tcp://127.0.0.1:{market}",
        "--signal-endpoint", f"tcp://127.0.0.1:{signals}", "--order-endpoint", f"tcp://127.0.0.1:{orders}",
        "--symbols", "AAPL", "--health-port", str(health), "--run-id", "e2e",
    ]  # fmt: skip
    connected = Service("strategy", argv, health_port=health, ready=lambda s: False)
    with (
        ZMQPublisher(f"tcp://127.0.0.1:{market}") as bars_out,
        ZMQPublisher(f"tcp://127.0.0.1:{orders}") as updates_out,
        ZMQSubscriber(f"tcp://127.0.0.1:{signals}") as signals_in,
    ):
        signals_in.connect(["signal"])  # before the strategy binds: ZeroMQ reconnects until it does
        connected.start()
        try:
            connected.wait(lambda s: s.metrics().get("bus_connected") == "true", "connected", 30)
            bars_out.wait_for_subscribers(1, timeout=10, topic="market")
            updates_out.wait_for_subscribers(1, timeout=10, topic="order")
            first = next(bars(1))  # a bar the contract allows but the feature engine refuses: skipped
            bars_out.publish(msgspec.structs.replace(first, symbol="MSFT", low=first.high + 1.0))
            bars_out.publish_many(list(bars(300)))
            connected.wait(lambda s: s.metrics().get("bars") == "300", "done with the bars", 10)
            received: list[Signal] = []
            while len(received) < int(connected.metrics()["signals"]):
                item = signals_in.receive_one(timeout=5)
                assert item is not None and isinstance(item[1], Signal), item
                received.append(item[1])
                updates_out.publish(update(item[1], "filled", 5.0))
            connected.wait(lambda s: s.metrics().get("pending_signals") == "0", "done with the orders", 10)
            metrics = connected.metrics()
            assert metrics["malformed_messages"] == "1"
            assert metrics["signals"] == str(len(received)) == metrics["fills"] and len(received) >= 2
            assert [s.signal_id for s in received] == [f"e2e-{n}" for n in range(1, len(received) + 1)]
            assert connected.get("/ready")[0] == 200
            status, page = connected.get("/metrics")
            assert status == 200 and 'tradebridge_latency_seconds_count{stage="features"} 300.0' in page
        finally:
            code = connected.stop(grace=10)
    assert code == 0, connected.output()
    assert "stopped: bars 300" in connected.output()


def test_sigterm_before_any_subscriber_exits_zero() -> None:
    health = free_port()
    argv = [sys.executable, str(PATH), "--signal-endpoint", f"tcp://127.0.0.1:{free_port()}",
            "--market-endpoint", f"tcp://127.0.0.1:{free_port()}", "--order-endpoint",
            f"tcp://127.0.0.1:{free_port()}", "--health-port", str(health)]  # fmt: skip
    with Service("strategy", argv, health_port=health, ready=lambda s: s.get("/live")[0] == 200) as waiting:
        assert waiting.get("/ready")[1]["reason"] == "connecting"
        waiting.send_signal(signal.SIGTERM)
        assert waiting.wait_exit(10) == 0
