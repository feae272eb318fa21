"""The backtest path: ``examples/strategy.py``, unchanged, on a ``replay --max`` of a live run's capture makes
the same signals as it made live, in the same order.

Every part is a real process: the seeded mock publisher, the strategy, ``tradebridge record`` (one recorder
on both the market feed and the strategy's signals), ``tradebridge replay``. The signals are compared field
by field (symbol, direction, strength, features, price, signal id, the bar they came from, ``seq``), except
the bus envelope's ``sent_at_us`` and ``source``: wall-clock time and a publisher instance's random id by
contract. The strategy stamps its signals with their bar's time (``--signal-time bar``): its default, now,
is wall-clock time too, on purpose (the engine refuses stale signals), and would differ run to run; the
run id (the signal ids' prefix) is given, as its default is random.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import msgspec
import pyarrow.parquet as pq
import pytest
from tradebridge.capture import capture_info
from tradebridge.capture.format import list_segments
from tradebridge.testing import Service, free_port

from tests.capture.conftest import endpoint, mock_publisher

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "strategy.py"
SYMBOLS = "AAPL,MSFT,GOOGL"
#: wall clock and instance id by contract (see the module docstring): the only fields a replay may change
WALL_CLOCK = ("sent_at_us", "source")


def strategy(market: str, signals: str) -> Service:
    port = free_port()
    command = [sys.executable, str(STRATEGY), "--market-endpoint", market, "--signal-endpoint", signals,
               "--order-endpoint", endpoint(), "--symbols", SYMBOLS, "--health-port", str(port),
               "--run-id", "backtest", "--signal-time", "bar", "--subscribers", "1",
               "--subscriber-wait", "60"]  # fmt: skip
    return Service("strategy", command, health_port=port, ready=lambda s: s.get("/health")[0] == 200)


def recorder(out: Path, topics: str, *endpoints: str) -> Service:
    port = free_port()
    command = [sys.executable, "-m", "tradebridge.capture", "record", "--out", str(out), "--topics", topics,
               "--health-port", str(port)]  # fmt: skip
    for address in endpoints:
        command += ["--endpoint", address]
    return Service("record", command, health_port=port)


def metric(service: Service, name: str) -> int:
    return int(float(service.metrics().get(name, "0")))


def wait_for(service: Service, name: str, value: int, timeout: float = 120.0) -> None:
    service.wait(lambda s: metric(s, name) >= value, f"{name} >= {value}", timeout)


def stop_cleanly(service: Service) -> None:
    service.send_signal(signal.SIGINT)
    assert service.wait_exit(30) == 0, service.log_tail()


def frames(capture: Path, topic: str) -> list[bytes]:
    out: list[bytes] = []
    for segment in list_segments(capture):
        table = pq.read_table(segment, columns=["topic", "payload"])
        out += [p for t, p in zip(table["topic"].to_pylist(), table["payload"].to_pylist(), strict=True)
                if t == topic]  # fmt: skip
    return out


def signals(capture: Path) -> list[dict[str, Any]]:
    """The signals of a capture, without their wall-clock fields."""
    decoded = [msgspec.json.decode(frame.partition(b" ")[2]) for frame in frames(capture, "signal")]
    return [{k: v for k, v in s.items() if k not in WALL_CLOCK} for s in decoded]


@contextmanager
def services(*started: Service) -> Iterator[None]:
    with ExitStack() as stack:
        for service in started:
            stack.enter_context(service)
        yield


def live_run(out: Path, bars: int, rate: int) -> int:
    """The seeded mock publisher (``rate`` bars a second, 0 unthrottled) into the strategy, with one recorder
    on the market and the strategy's signals; how many signals the strategy made."""
    market, signal_endpoint = endpoint(), endpoint()
    live = strategy(market, signal_endpoint)
    record = recorder(out, "market,signal", market, signal_endpoint)
    feed = mock_publisher(market, bars, "--seed", "7", "--symbols", SYMBOLS, subscribers=2, rate=rate)
    with services(live, record, feed):
        assert feed.wait_exit(bars / (rate or 10_000) + 60) == 0, feed.log_tail()
        wait_for(live, "bars", bars)
        made = metric(live, "signals")
        wait_for(record, "record_received", bars + made)
        stop_cleanly(record)
        stop_cleanly(live)
    return made


def backtest(capture: Path, out: Path, bars: int) -> int:
    """A fresh strategy fed by ``tradebridge replay --max`` of the capture's market frames, its signals
    recorded into ``out``; how many signals it made."""
    market, signal_endpoint = endpoint(), endpoint()
    fresh = strategy(market, signal_endpoint)
    record = recorder(out, "signal", signal_endpoint)
    command = [sys.executable, "-m", "tradebridge.capture", "replay", str(capture), "--endpoint", market,
               "--max", "--topics", "market", "--wait-for-subscribers", "1"]  # fmt: skip
    replay = Service("replay", command)
    with services(fresh, record, replay):
        assert replay.wait_exit(180) == 0, replay.log_tail()
        assert f"replay: {bars} frames" in replay.output()
        wait_for(fresh, "bars", bars)
        made = metric(fresh, "signals")
        wait_for(record, "record_received", made)
        stop_cleanly(record)
        stop_cleanly(fresh)
    return made


def check_backtest(tmp_path: Path, bars: int, rate: int = 0) -> None:
    live, replayed = tmp_path / "live", tmp_path / "backtest"
    made_live = live_run(live, bars, rate)
    info = capture_info(live)
    assert len(frames(live, "market")) == bars and info.gaps == 0 and info.dropped == 0
    made_again = backtest(live, replayed, bars)
    expected, got = signals(live), signals(replayed)
    assert made_live == len(expected) and made_again == len(got)
    assert len(expected) >= 10, "too few signals to prove anything: change the seed or the bar count"
    assert got == expected


def test_a_replay_at_max_speed_reproduces_the_live_signals(tmp_path: Path) -> None:
    check_backtest(tmp_path, 3_000)


@pytest.mark.stress
def test_a_long_replay_outruns_the_strategy_and_still_reproduces_every_signal(tmp_path: Path) -> None:
    """More bars than the replay's and the strategy's queues hold together (100,000 each): the replay has
    to wait for the strategy, and its end has to wait for the strategy to take the last frames (about 100,000
    of them, which a Python strategy needs seconds for). The live run is paced so that the strategy keeps up
    live (an unthrottled publisher would outrun it and drop at its own high-water mark)."""
    check_backtest(tmp_path, 250_000, rate=8_000)
