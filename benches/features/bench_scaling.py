"""How the feature engine's cost grows with the number of symbols: curves, not points.

Streaming: the same 100,000 bars dealt round-robin to 1, 10, 100, 1,000 and 10,000 symbols (the work per
bar is identical; only the number of live states changes). Baseline: the 1-symbol point of the same run.
Batch: the same 1,000,000 bars cut into 1, 100 and 10,000 per-symbol series, one ``compute_batch`` each
into a reused ``out=`` buffer. Baseline: the 1-series point of the same run. ``conftest.py`` prints both
curves with each point's ratio to its baseline; no limit is asserted (the machine is shared), the
printout says where the curve bends and why.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from tradebridge import MarketBar, RustFeatureComputer

from benches.features.conftest import CURVES
from tests.features.series import Series, make_series

BARS = 100_000
BATCH_BARS = 1_000_000
STREAM_SYMBOLS = (1, 10, 100, 1_000, 10_000)
BATCH_SERIES = (1, 100, 10_000)
ROUNDS = 5


@pytest.fixture(scope="module")
def series() -> Series:
    return make_series(BATCH_BARS, seed=7, sigma=0.0006, gaps=False, flats=False, spikes=False)


def dealt(series: Series, symbols: int) -> list[MarketBar]:
    names = [f"S{i:05d}" for i in range(symbols)]
    rows = zip(*(c[:BARS].tolist() for c in series.columns()), strict=True)
    return [MarketBar(names[i % symbols], *row, 1_700_000_000_000 + 60_000 * i) for i, row in enumerate(rows)]


def interleaved_medians(runs: dict[int, tuple[Callable[[], object], int]]) -> dict[int, float]:
    """Median seconds per bar of every point, the points run round-robin (A B C A B C ...) so the shared
    CPU's drift hits all of them alike; one warm-up round first (states created, pages touched)."""
    samples: dict[int, list[float]] = {point: [] for point in runs}
    for round_ in range(ROUNDS + 1):
        for point, (run, bars) in runs.items():
            started = time.perf_counter()
            run()
            if round_:
                samples[point].append((time.perf_counter() - started) / bars)
    return {point: statistics.median(values) for point, values in samples.items()}


def test_streaming_curve(benchmark: Any, series: Series) -> None:
    """One computer per point, fed its dealt bars round after round (states stay warm across rounds)."""
    inputs = {symbols: dealt(series, symbols) for symbols in STREAM_SYMBOLS}

    def streamer(bars: list[MarketBar]) -> Callable[[], None]:
        compute = RustFeatureComputer().compute_streaming

        def run() -> None:
            for bar in bars:
                compute(bar)

        return run

    runs = {symbols: (streamer(bars), BARS) for symbols, bars in inputs.items()}

    def curve() -> None:
        for symbols, per_bar in interleaved_medians(runs).items():
            CURVES[("streaming compute_streaming", symbols)] = per_bar

    benchmark.group = "scaling"
    benchmark.name = "streaming, 1..10,000 symbols"
    benchmark.pedantic(curve, rounds=1, iterations=1)


def test_batch_curve(benchmark: Any, series: Series) -> None:
    out = np.empty((BATCH_BARS, 12))
    columns = series.columns()

    def batcher(count: int) -> Callable[[], None]:
        size = BATCH_BARS // count
        computer = RustFeatureComputer()
        cuts = [
            ([c[i * size : (i + 1) * size] for c in columns], out[i * size : (i + 1) * size])
            for i in range(count)
        ]

        def run() -> None:
            for cut, target in cuts:
                computer.compute_batch(*cut, out=target)

        return run

    runs = {count: (batcher(count), BATCH_BARS) for count in BATCH_SERIES}

    def curve() -> None:
        for count, per_bar in interleaved_medians(runs).items():
            CURVES[("batch compute_batch out=", count)] = per_bar

    benchmark.group = "scaling"
    benchmark.name = "batch, 1..10,000 series"
    benchmark.pedantic(curve, rounds=1, iterations=1)
