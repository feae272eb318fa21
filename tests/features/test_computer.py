"""RustFeatureComputer's Python surface: parameters, per-symbol state, the buffer variant, batch,
pickle, and that bad input is a clean exception that loses nothing."""

from __future__ import annotations

import json
import math
import pickle
import threading
import time

import numpy as np
import pytest
from tradebridge import MarketBar, RustFeatureComputer
from tradebridge import _native as native

from tests.features.reference import FEATURE_NAMES
from tests.features.series import Series, make_series


def bars_of(series: Series, symbol: str = "AAPL") -> list[MarketBar]:
    return [
        MarketBar(symbol, o, h, lo, c, v, i)
        for i, (o, h, lo, c, v) in enumerate(
            zip(*(column.tolist() for column in series.columns()), strict=True)
        )
    ]


def same_bits(a: object, b: object) -> bool:
    return np.array_equal(
        np.asarray(a, dtype=np.float64).view(np.int64), np.asarray(b, dtype=np.float64).view(np.int64)
    )


@pytest.fixture(scope="module")
def series() -> Series:
    return make_series(2_000, seed=5)


def test_guide_usage_and_metadata() -> None:
    computer = RustFeatureComputer()
    assert computer.feature_names == list(FEATURE_NAMES) == list(native.FEATURE_NAMES)
    assert computer.lookbacks == [0, 14, 33, 33, 33, 11, 25, 0, 19, 19, 0, 0]
    assert computer.warmup_bars == 34
    assert dict(computer.periods) == {
        "rsi_period": 14,
        "fast_period": 12,
        "slow_period": 26,
        "signal_period": 9,
        "sma_period": 20,
    }
    bar = MarketBar("AAPL", 150.0, 152.5, 149.5, 151.0, 1_000_000.0, 1234567890)
    features = computer.compute_streaming(bar)
    assert isinstance(features, list) and len(features) == 12
    assert features[0] == 151.0 and features[7] == 3.0 and features[10] == 1_000_000.0
    assert features[11] == (152.5 - 149.5) / 151.0 * 100
    assert all(math.isnan(features[i]) for i in (1, 2, 3, 4, 5, 6, 8, 9))
    assert computer.symbols == ["AAPL"] and computer.bars_seen("AAPL") == 1 and computer.bars_seen("X") == 0
    assert "RustFeatureComputer(rsi_period=14" in repr(computer)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rsi_period": 1}, "rsi_period must be between 2 and 100000, got 1"),
        ({"rsi_period": -5}, "rsi_period must be between 2 and 100000, got -5"),
        ({"sma_period": 0}, "sma_period must be between 2 and 100000, got 0"),
        ({"signal_period": 0}, "signal_period must be between 1 and 100000, got 0"),
        # A huge period would try to allocate a huge window: it must be refused before that.
        ({"sma_period": 10**12}, "sma_period must be between 2 and 100000"),
        ({"slow_period": 2**80}, "slow_period must be between 2 and 100000"),
        ({"fast_period": 26}, r"fast_period \(26\) must be smaller than slow_period \(26\)"),
        ({"fast_period": 30, "slow_period": 10}, "must be smaller than slow_period"),
    ],
)
def test_bad_periods_raise_value_error(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RustFeatureComputer(**kwargs)


@pytest.mark.parametrize("value", [14.0, "14", True, None.__class__])
def test_non_int_periods_raise_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="rsi_period must be an int"):
        RustFeatureComputer(rsi_period=value)  # type: ignore[arg-type]


def test_unknown_keyword_and_positional_periods_are_refused() -> None:
    with pytest.raises(TypeError):
        RustFeatureComputer(rsi=14)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        RustFeatureComputer(14)  # type: ignore[misc]


def test_interleaved_symbols_equal_one_computer_per_symbol(series: Series) -> None:
    other = make_series(2_000, seed=6, start=3_000.0)
    shared = RustFeatureComputer()
    alone = {"AAPL": RustFeatureComputer(), "ETH/USD": RustFeatureComputer()}
    for a, b in zip(bars_of(series, "AAPL"), bars_of(other, "ETH/USD"), strict=True):
        for bar in (b, a) if a.timestamp % 3 else (a, b):
            assert same_bits(shared.compute_streaming(bar), alone[bar.symbol].compute_streaming(bar))
    assert shared.symbols == ["ETH/USD", "AAPL"] or shared.symbols == ["AAPL", "ETH/USD"]
    assert shared.is_ready() and shared.is_ready("AAPL") and not shared.is_ready("MSFT")


def test_reset_one_symbol_or_all(series: Series) -> None:
    computer = RustFeatureComputer()
    for bar in bars_of(series, "A")[:50] + bars_of(series, "B")[:50]:
        computer.compute_streaming(bar)
    assert computer.is_ready("A") and computer.is_ready("B")
    assert computer.reset("A") is True
    assert computer.reset("A") is False
    assert not computer.is_ready("A") and computer.is_ready("B")
    assert computer.is_ready()  # every symbol that has state (only B now) is warm
    fresh = RustFeatureComputer()
    first = bars_of(series, "A")[0]
    assert same_bits(computer.compute_streaming(first), fresh.compute_streaming(first))
    assert computer.reset() is True
    assert computer.symbols == [] and not computer.is_ready()


def test_compute_into_writes_the_same_features_in_place(series: Series) -> None:
    listed, buffered = RustFeatureComputer(), RustFeatureComputer()
    matrix = np.zeros((len(series), 12))
    for i, bar in enumerate(bars_of(series)):
        buffered.compute_into(bar, matrix[i])  # a row of a preallocated matrix is a valid buffer
        assert same_bits(matrix[i], listed.compute_streaming(bar))


@pytest.mark.parametrize(
    ("out", "error", "message"),
    [
        (np.zeros(11), ValueError, "out must hold 12 values, got 11"),
        (np.zeros(24)[::2], ValueError, "contiguous"),
        (np.zeros(12, dtype=np.float32), TypeError, None),
        (np.zeros((2, 6)), TypeError, None),
        ([0.0] * 12, TypeError, None),
    ],
)
def test_compute_into_rejects_bad_buffers_without_consuming_the_bar(
    out: object, error: type[Exception], message: str | None
) -> None:
    computer = RustFeatureComputer()
    bar = MarketBar("X", 1.0, 1.0, 1.0, 1.0, 1.0, 0)
    with pytest.raises(error, match=message):
        computer.compute_into(bar, out)  # type: ignore[arg-type]
    assert computer.bars_seen("X") == 0


def test_compute_into_rejects_a_read_only_buffer() -> None:
    out = np.zeros(12)
    out.flags.writeable = False
    computer = RustFeatureComputer()
    with pytest.raises(ValueError, match="out"):
        computer.compute_into(MarketBar("X", 1.0, 1.0, 1.0, 1.0, 1.0, 0), out)
    assert computer.bars_seen("X") == 0


def test_compute_streaming_rejects_non_bars() -> None:
    with pytest.raises(TypeError):
        RustFeatureComputer().compute_streaming(("AAPL", 1.0, 1.0, 1.0, 1.0, 1.0, 0))  # type: ignore[arg-type]


def test_batch_equals_streaming_bit_for_bit(series: Series) -> None:
    computer = RustFeatureComputer(
        rsi_period=9, fast_period=8, slow_period=21, signal_period=5, sma_period=30
    )
    batch = computer.compute_batch(*series.columns())
    assert batch.shape == (len(series), 12) and batch.dtype == np.float64 and batch.flags.c_contiguous
    streamed = np.array([computer.compute_streaming(bar) for bar in bars_of(series)])
    assert same_bits(batch, streamed)


def test_batch_is_cold_and_leaves_streaming_state_alone(series: Series) -> None:
    computer = RustFeatureComputer()
    for bar in bars_of(series, "S")[:100]:
        computer.compute_streaming(bar)
    first = computer.compute_batch(*series.columns())
    second = computer.compute_batch(*series.columns())
    assert same_bits(first, second)
    assert computer.bars_seen("S") == 100 and computer.symbols == ["S"]


def test_batch_accepts_lists_ints_and_strided_views(series: Series) -> None:
    computer = RustFeatureComputer()
    expected = computer.compute_batch(*series.columns())
    as_lists = computer.compute_batch(*(column.tolist() for column in series.columns()))
    assert same_bits(as_lists, expected)
    doubled = [np.repeat(column, 2)[::2] for column in series.columns()]
    assert not doubled[0].flags.c_contiguous
    assert same_bits(computer.compute_batch(*doubled), expected)
    ints = np.array([10, 12, 11, 13])
    assert computer.compute_batch(ints, ints + 1, ints - 1, ints, ints)[:, 0].tolist() == [
        10.0,
        12.0,
        11.0,
        13.0,
    ]
    assert computer.compute_batch([], [], [], [], []).shape == (0, 12)


def test_batch_writes_into_a_caller_buffer(series: Series) -> None:
    computer = RustFeatureComputer()
    out = np.full((len(series), 12), -1.0)
    result = computer.compute_batch(*series.columns(), out=out)
    assert result is out
    assert same_bits(out, computer.compute_batch(*series.columns()))
    with pytest.raises(ValueError, match=r"out must have shape \(2000, 12\)"):
        computer.compute_batch(*series.columns(), out=np.zeros((10, 12)))
    with pytest.raises(ValueError, match="C-contiguous"):
        computer.compute_batch(*series.columns(), out=np.zeros((12, len(series))).T)
    with pytest.raises(TypeError):
        computer.compute_batch(*series.columns(), out=np.zeros((len(series), 12), dtype=np.float32))  # type: ignore[arg-type]


def test_batch_rejects_bad_columns(series: Series) -> None:
    computer = RustFeatureComputer()
    o, h, lo, c, v = series.columns()
    with pytest.raises(ValueError, match="column low has 10 values, expected 2000"):
        computer.compute_batch(o, h, lo[:10], c, v)
    bad = c.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="bar 7: close must be finite, got NaN"):
        computer.compute_batch(o, h, lo, bad, v)
    bad_volume = v.copy()
    bad_volume[1999] = -1.0
    with pytest.raises(ValueError, match="bar 1999: volume must be >= 0"):
        computer.compute_batch(o, h, lo, c, bad_volume)
    with pytest.raises(ValueError, match=r"bar 0: close .* must be <= high"):
        computer.compute_batch(o, h, lo, h * 2, v)
    with pytest.raises(ValueError, match="open must be one-dimensional"):
        computer.compute_batch(np.zeros((3, 2)), h, lo, c, v)
    with pytest.raises(ValueError):
        computer.compute_batch(["x"], [1.0], [1.0], [1.0], [1.0])


def test_pickle_round_trip_keeps_warm_state(series: Series) -> None:
    computer = RustFeatureComputer(rsi_period=10, sma_period=15)
    bars_a, bars_b = bars_of(series, "A"), bars_of(series, "B")
    for a, b in zip(bars_a[:500], bars_b[:300], strict=False):
        computer.compute_streaming(a)
        computer.compute_streaming(b)
    restored = pickle.loads(pickle.dumps(computer))
    assert restored.periods == computer.periods and restored.symbols == computer.symbols
    assert restored.is_ready("A") and restored.bars_seen("B") == 300
    for a, b in zip(bars_a[500:], bars_b[300:], strict=False):
        assert same_bits(restored.compute_streaming(a), computer.compute_streaming(a))
        assert same_bits(restored.compute_streaming(b), computer.compute_streaming(b))


def corrupt(computer: RustFeatureComputer, edit: object) -> bytes:
    state = json.loads(computer.__getstate__())
    edit(state)  # type: ignore[operator]
    return json.dumps(state).encode()


def test_corrupt_state_is_a_value_error_not_a_crash() -> None:
    computer = RustFeatureComputer()
    computer.compute_streaming(MarketBar("A", 1.0, 1.0, 1.0, 1.0, 1.0, 0))

    def short_ring(s: dict) -> None:  # type: ignore[type-arg]
        s["computer"]["series"][0][1]["sma"]["ring"] = [0, 0]  # would index out of bounds if trusted

    def bad_pos(s: dict) -> None:  # type: ignore[type-arg]
        s["computer"]["series"][0][1]["sma"]["pos"] = 10**6

    def bad_period(s: dict) -> None:  # type: ignore[type-arg]
        s["computer"]["config"]["sma_period"] = 10**12  # would allocate a huge window if trusted

    def bad_format(s: dict) -> None:  # type: ignore[type-arg]
        s["format"] = 99

    for edit, message in (
        (short_ring, "SMA window"),
        (bad_pos, "SMA window"),
        (bad_period, "sma_period must be between"),
        (bad_format, "unsupported format"),
    ):
        target = RustFeatureComputer()
        with pytest.raises(ValueError, match=message):
            target.__setstate__(corrupt(computer, edit))
        assert target.symbols == []  # a refused state leaves the object as it was
    with pytest.raises(ValueError, match="invalid RustFeatureComputer state"):
        RustFeatureComputer().__setstate__(b"\x80not json")
    with pytest.raises(TypeError):
        RustFeatureComputer().__setstate__("text")  # type: ignore[arg-type]


def test_compute_batch_releases_the_gil() -> None:
    n = 2_000_000
    series = make_series(n, seed=9, gaps=False, flats=False, spikes=False)
    computer = RustFeatureComputer()
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    worker = threading.Thread(target=count)
    worker.start()
    try:
        time.sleep(0.01)
        for _ in range(3):  # the scheduler may be busy; one clear instance is proof enough
            before = ticks
            started = time.perf_counter()
            computer.compute_batch(*series.columns())
            elapsed = time.perf_counter() - started
            progressed = ticks - before
            # Holding the GIL for the whole call would allow at most a few switch intervals of counting.
            if progressed > 1_000 and elapsed > 0.02:
                break
        else:
            pytest.fail(f"the counting thread advanced only {progressed} times during a {elapsed:.3f}s batch")
    finally:
        stop.set()
        worker.join()
