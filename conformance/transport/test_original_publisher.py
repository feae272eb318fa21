"""The guide's original Python publisher (``conformance/testees/python/original_publisher.py``, run
unmodified) against our subscriber: its ``SignalGenerated`` signals with bare ``NaN`` features are read
with ``allow_nan_tokens=True`` and counted as legacy; without the option they are refused and counted,
and the subscriber keeps reading."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator

import pytest
from tradebridge.bus import BusOptions, ZMQSubscriber
from tradebridge.contracts import Signal
from tradebridge.testing import free_port

from conformance.testees.python.original_publisher import Signal as OriginalSignal
from conformance.testees.python.original_publisher import ZMQPublisher as OriginalPublisher

SIGNALS = 20


def original_signal(i: int, *, warm: bool = False) -> OriginalSignal:
    # the first features of a streaming computer are NaN until its windows fill: json.dumps writes NaN
    features = [1.0, 2.0, float(i)] if warm else [math.nan, 1.0, float(i), math.inf]
    return OriginalSignal(
        symbol="AAPL",
        direction="long" if i % 2 else "short",
        strength=0.5,
        timestamp=1_729_530_000_123 + i,
        features=features,
        metadata={"strategy": "ml-predictor", "i": i},
    )


@pytest.fixture
async def original() -> AsyncIterator[OriginalPublisher]:
    publisher = OriginalPublisher(f"tcp://127.0.0.1:{free_port()}")
    await publisher.connect()
    try:
        yield publisher
    finally:
        await publisher.close()
        publisher.context.destroy(linger=0)  # the original never terminates its context


async def joined(publisher: OriginalPublisher, subscriber: ZMQSubscriber) -> None:
    """The original has no slow-joiner handling: heartbeat until our subscriber hears one."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        await publisher.publish_heartbeat("original")
        if await subscriber.receive_one(timeout=0.05) is not None:
            return
    raise AssertionError("the subscriber never joined the original publisher")


async def drain(subscriber: ZMQSubscriber, want: int) -> list[Signal]:
    signals: list[Signal] = []
    deadline = time.monotonic() + 10
    while len(signals) < want and time.monotonic() < deadline:
        item = await subscriber.receive_one(timeout=0.2)
        if item is not None and item[0] == "signal":
            signals.append(item[1])
    return signals


async def test_every_original_signal_is_read_and_counted_legacy(original: OriginalPublisher) -> None:
    options = BusOptions(allow_nan_tokens=True)
    async with ZMQSubscriber(original.address, options=options) as subscriber:
        await subscriber.connect(["signal", "system"])
        await joined(original, subscriber)
        for i in range(SIGNALS):
            await original.publish_signal(original_signal(i))
        signals = await drain(subscriber, SIGNALS)
        stats = subscriber.stats
    assert [s.timestamp for s in signals] == [1_729_530_000_123 + i for i in range(SIGNALS)]
    assert all(s["type"] == "Signal" for s in signals)  # re-encoded canonically
    assert signals[3].features == [None, 1.0, 3.0, None]
    assert signals[3].metadata == {"strategy": "ml-predictor", "i": 3}
    assert (stats.legacy, stats.nan_tokens, stats.malformed) == (SIGNALS, SIGNALS, 0)
    assert stats.transit.count == 0  # the original writes no sent_at_us: no transit invented


async def test_without_the_option_nan_signals_are_refused_counted_and_the_loop_goes_on(
    original: OriginalPublisher,
) -> None:
    async with ZMQSubscriber(original.address) as subscriber:
        await subscriber.connect(["signal", "system"])
        await joined(original, subscriber)
        for i in range(SIGNALS):
            await original.publish_signal(original_signal(i))
        await original.publish_signal(original_signal(99, warm=True))
        signals = await drain(subscriber, 1)
        stats = subscriber.stats
    assert [s.timestamp for s in signals] == [1_729_530_000_123 + 99]
    assert stats.malformed_by_code == {"invalid_json": SIGNALS}
    assert (stats.legacy, stats.nan_tokens) == (1, 0)
