"""``replay``: pace, ``--max``, filters, ``--loop``, waiting for subscribers, never dropping for a slow one,
and a replayed capture driving the mock broker's market through its ``--market-endpoint``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import zmq
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockLatestTradeRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import MarketOrderRequest
from tradebridge.bus.sync import SubscriberTimeoutError
from tradebridge.capture import CaptureError, Replayer
from tradebridge.capture.cli import _moment
from tradebridge_mocks.broker import MockBroker

from tests.alpaca.conftest import API_KEY, SECRET_KEY, with_timeout
from tests.capture.conftest import RawSubscriber, bar_frame, endpoint, run_cli, write_capture

T0 = 1_796_000_000_000_000_000
SECOND = 1_000_000_000


def replay(
    path: Path, raw_subscriber: type[RawSubscriber], n: int, **options: Any
) -> tuple[list[bytes], Any]:
    with Replayer(path, "tcp://127.0.0.1:0", wait_for_subscribers=1, **options) as replayer:
        frames = raw_subscriber(replayer.endpoint).take(n)
        result = replayer.wait(timeout=30)
    return frames, result


def test_the_recorded_pace_is_kept_scaled_by_speed(
    tmp_path: Path, raw_subscriber: type[RawSubscriber]
) -> None:
    rows = [(T0 + i * SECOND // 10, bar_frame("AAPL", i)) for i in range(11)]  # one second of bars
    path = write_capture(tmp_path / "c.parquet", rows)
    frames, result = replay(path, raw_subscriber, 11, speed=4.0)
    assert frames == [f for _, f in rows]
    assert result.elapsed >= 0.25  # frames are never sent before their (scaled) time


def test_max_ignores_the_recorded_pace(tmp_path: Path, raw_subscriber: type[RawSubscriber]) -> None:
    rows = [(T0 + i * 600 * SECOND, bar_frame("AAPL", i)) for i in range(7)]  # an hour of bars
    path = write_capture(tmp_path / "c.parquet", rows)
    frames, result = replay(path, raw_subscriber, 7, speed=None)
    assert frames == [f for _, f in rows] and result.published == 7


def test_filters_by_topic_symbol_and_time(tmp_path: Path, raw_subscriber: type[RawSubscriber]) -> None:
    heartbeat = b'system {"type":"Heartbeat","component":"x","timestamp":1}'
    rows = []
    for i in range(60):
        frame = heartbeat if i % 3 == 0 else bar_frame(["AAPL", "MSFT"][i % 2], i)
        rows.append((T0 + i * SECOND, frame))
    path = write_capture(tmp_path / "c.parquet", rows, row_group_rows=7)

    def chosen(keep: Any) -> list[bytes]:
        return [frame for stamp, frame in rows if keep(stamp, frame)]

    market = chosen(lambda s, f: f.startswith(b"market "))
    frames, _ = replay(path, raw_subscriber, len(market), speed=None, topics=["market"])
    assert frames == market
    msft = chosen(lambda s, f: b'"MSFT"' in f)
    frames, _ = replay(path, raw_subscriber, len(msft), speed=None, symbols=["MSFT"])
    assert frames == msft
    start, end = T0 + 20 * SECOND, T0 + 41 * SECOND
    window = chosen(lambda s, f: start <= s < end and b'"AAPL"' in f)
    frames, result = replay(
        path, raw_subscriber, len(window), speed=None, symbols=["AAPL"], start=start, end=end
    )
    assert frames == window and result.published == len(window)
    moment = datetime.fromtimestamp(start / 1e9, UTC)
    frames, _ = replay(path, raw_subscriber, 21, speed=None, start=moment, end=end)
    assert frames == [f for s, f in rows if start <= s < end]


def test_loop_starts_again_at_the_end(tmp_path: Path, raw_subscriber: type[RawSubscriber]) -> None:
    rows = [(T0 + i, bar_frame("AAPL", i)) for i in range(100)]
    path = write_capture(tmp_path / "c.parquet", rows, row_group_rows=30)
    with Replayer(path, "tcp://127.0.0.1:0", speed=None, loop=True, wait_for_subscribers=1) as replayer:
        frames = raw_subscriber(replayer.endpoint).take(350)
        replayer.stop()
        result = replayer.wait(timeout=10)
    assert frames == ([f for _, f in rows] * 4)[:350]
    assert result.passes >= 3 and result.published >= 350


def test_a_slow_subscriber_slows_the_replay_down_instead_of_losing_frames(
    tmp_path: Path, raw_subscriber: type[RawSubscriber]
) -> None:
    padding = b',"note":"%s"}' % (b"x" * 4000)  # 20 MB in all: more than socket buffers hold
    rows = [(T0 + i, bar_frame("AAPL", i)[:-1] + padding) for i in range(5000)]
    path = write_capture(tmp_path / "c.parquet", rows, row_group_rows=250)
    with Replayer(path, "tcp://127.0.0.1:0", speed=None, send_hwm=100, wait_for_subscribers=1) as replayer:
        slow = raw_subscriber(replayer.endpoint, hwm=100)  # queues of 100 on both sides: a PUB would drop
        frames = slow.take(100)
        time.sleep(0.3)
        assert replayer.published < 5000  # the replay is waiting for us
        frames += slow.take(4900)
        result = replayer.wait(timeout=30)
    assert frames == [f for _, f in rows] and result.published == 5000


def test_waiting_for_subscribers_times_out_with_the_bus_error(tmp_path: Path) -> None:
    path = write_capture(tmp_path / "c.parquet", [(T0, bar_frame("AAPL", 0))])
    with pytest.raises(SubscriberTimeoutError, match="0 of 2 subscriber"):
        Replayer(path, "tcp://127.0.0.1:0", wait_for_subscribers=2, wait_timeout=0.2).run()
    process = run_cli("replay", str(path), "--endpoint", endpoint(), "--wait-for-subscribers", "1",
                      "--wait-timeout", "0.2")  # fmt: skip
    _, err = process.communicate(timeout=20)
    assert process.returncode == 1 and "0 of 1 subscriber" in err


def test_bad_replay_options_are_refused(tmp_path: Path) -> None:
    path = write_capture(tmp_path / "c.parquet", [(T0, bar_frame("AAPL", 0))])
    for options in ({"speed": 0}, {"speed": float("inf")}, {"start": T0, "end": T0}, {"send_hwm": -1}):
        with pytest.raises(CaptureError) as caught:
            Replayer(path, **options)
        assert caught.value.code == "invalid_option"
    assert _moment("2026-12-02T09:30:00Z") == _moment("2026-12-02T09:30:00") == 1_796_203_800 * SECOND
    assert _moment("1796203800.5") == 1_796_203_800 * SECOND + SECOND // 2


def test_a_replayed_capture_drives_the_mock_broker_market(
    tmp_path: Path, raw_subscriber: type[RawSubscriber]
) -> None:
    closes = [375.87, 376.71, 376.76]
    frames = [
        b'market {"type":"BarUpdate","symbol":"AAPL","open":%r,"high":%r,"low":%r,"close":%r,"volume":10.0,'
        b'"timestamp":%d,"seq":%d,"source":"py-7-feed"}' % (c, c + 0.5, c - 0.5, c, 1_735_828_200_000 + i, i)
        for i, c in enumerate(closes)
    ]
    path = write_capture(
        tmp_path / "day.parquet", [(T0 + i * SECOND // 100, f) for i, f in enumerate(frames)]
    )
    address = endpoint()
    with (
        Replayer(path, address, speed=1.0, wait_for_subscribers=1) as replayer,
        MockBroker(seed=1, market_endpoint=address) as broker,
    ):
        assert replayer.wait(timeout=20).published == 3
        data = with_timeout(StockHistoricalDataClient(API_KEY, SECRET_KEY, url_override=broker.url))
        trading = with_timeout(TradingClient(API_KEY, SECRET_KEY, paper=True, url_override=broker.url))
        deadline = time.monotonic() + 10
        while len(broker.state.prices.bars("AAPL")) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # the broker applies bars on its own loop
        assert [b.timestamp_ms for b in broker.state.prices.bars("AAPL")] == [
            1_735_828_200_000 + i for i in range(3)
        ]
        trade = data.get_stock_latest_trade(StockLatestTradeRequest(symbol_or_symbols="AAPL"))["AAPL"]
        assert trade.price == closes[-1]
        order = trading.submit_order(
            MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day")
        )
        assert Decimal(order.filled_avg_price) == Decimal(repr(closes[-1])) + Decimal("0.01")


@pytest.mark.parametrize("linger", [None, 0.2])
def test_the_end_of_a_replay_waits_for_a_slow_subscriber_to_take_the_last_frames(
    tmp_path: Path, linger: float | None
) -> None:
    """The last frames sit in the replay's queue when the capture is exhausted; a subscriber that pauses then
    (a strategy busy with the frames it holds) still gets them: the replay waits (``linger`` None, the
    default). A bounded linger shows what the wait is for: the frames queued past it are lost."""
    padding = b',"note":"%s"}' % (b"x" * 4000)  # more than socket buffers hold: the queues fill up
    rows = [(T0 + i, bar_frame("AAPL", i)[:-1] + padding) for i in range(5000)]
    path = write_capture(tmp_path / "c.parquet", rows, row_group_rows=250)
    pause = 1.5
    # 2,000 frames (8 MB) still queued at the end: more than the kernel's buffers and the subscriber's queue
    # take in while it pauses, so the end has to wait for it
    with Replayer(path, "tcp://127.0.0.1:0", speed=None, send_hwm=2000, linger=linger,
                  wait_for_subscribers=1) as replayer:  # fmt: skip
        slow: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.SUB)
        slow.setsockopt(zmq.RCVHWM, 100)
        slow.setsockopt(zmq.RCVBUF, 65536)  # a small kernel buffer: its autotuning would hold 30 MB
        slow.setsockopt(zmq.SUBSCRIBE, b"")
        slow.connect(replayer.endpoint)
        frames: list[bytes] = []
        try:
            while replayer.published < 5000:  # keep taking until everything was handed to the socket
                if slow.poll(100):
                    frames.append(slow.recv())
                    if len(frames) % 10 == 0:
                        # slower than the replay, whatever the load: its queue is full when it ends, not
                        # drained into the kernel's buffers (which no linger can take back)
                        time.sleep(0.001)
            time.sleep(pause)  # busy: the replay has nothing left to send, and its queue is full
            while slow.poll(1000):
                frames.append(slow.recv())
        finally:
            slow.close(0)
        result = replayer.wait(timeout=30)
    assert result.published == 5000 and result.flushed
    if linger is None:
        assert frames == [f for _, f in rows]
        assert result.elapsed >= pause  # it ended once the last frame was taken, not when it was queued
    else:
        assert 0 < len(frames) < 5000 and frames == [f for _, f in rows][: len(frames)]
