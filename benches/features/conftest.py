"""Collects ``bench_*.py`` here and prints the ours-vs-baseline ratios after the run."""

from __future__ import annotations

import itertools
from typing import Any

# name -> median seconds per bar, filled by the benchmarks of this folder: one benchmark per candidate
# (the pytest-benchmark tables), and all candidates interleaved round-robin (the ratios)
PER_BAR: dict[str, float] = {}
INTERLEAVED: dict[str, float] = {}
# name -> minor page faults of one call (fresh result vs reused buffer), filled by bench_features.py
PAGE_FAULTS: dict[str, int] = {}
# (curve, symbols or series) -> median seconds per bar, filled by bench_scaling.py
CURVES: dict[tuple[str, int], float] = {}

# Why the curves bend, printed under them: each point is checked against these explanations by eye.
CURVE_NOTES = {
    "streaming compute_streaming": (
        "1 -> 10 symbols: the last-symbol shortcut stops hitting and every bar pays a hash lookup "
        "(about 20 ns in Rust alone); 1,000 -> 10,000: the per-symbol states (about 0.5 KB each: RSI, "
        "three EMAs, the SMA ring, the table entry) outgrow L2, so each bar also waits on cache misses "
        "(about 65 ns more in Rust alone)"
    ),
    "batch compute_batch out=": (
        "flat while a series' rows fill at least 512 KB (about 5,500 bars) and go out with streaming "
        "stores; at 100 bars per series the fixed cost of a call (Python's call and argument checks, "
        "releasing the GIL, 34 of the 100 bars through the warm-up path) is spread over few bars"
    ),
}


#: the Python floor's work per bar (bench_features.Floor), printed beside its figure
FLOOR_WORK = "loop + method call + bar.close stored + array('d').tolist(): 12 distinct new floats"


def _source() -> dict[str, float]:
    return INTERLEAVED or PER_BAR


def _ns(name: str, table: dict[str, float] | None = None) -> str:
    table = _source() if table is None else table
    return f"{table[name] * 1e9:8.1f} ns/bar" if name in table else "     n/a"


def _ratio(slow: str, fast: str) -> str:
    table = _source()
    if slow in table and fast in table:
        return f"{table[slow] / table[fast]:.2f}x"
    return "n/a"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    _write_curves(terminalreporter)
    if not PER_BAR:
        return
    write = terminalreporter.write_line
    terminalreporter.section("features: ours vs baselines (medians, same run)")
    write(f"  {'candidate':<40} {'own benchmark':>16} {'interleaved':>16}")
    for name in sorted(set(PER_BAR) | set(INTERLEAVED)):
        write(f"  {name:<40} {_ns(name, PER_BAR):>16} {_ns(name, INTERLEAVED):>16}")
    write("")
    write(f"  ratios from the {'interleaved' if INTERLEAVED else 'per-candidate'} medians:")
    write(
        f"  streaming: compute_streaming {_ns('streaming/rust_compute_streaming').strip()} = "
        f"{_ratio('streaming/rust_compute_streaming', 'streaming/python_floor')} the Python floor "
        f"({FLOOR_WORK}, no maths: {_ns('streaming/python_floor').strip()}; limit 1.2x); "
        f"compute_into {_ratio('streaming/rust_compute_into', 'streaming/python_floor')} the floor "
        "(limit 1.1x)"
    )
    write(
        "  streaming: compute_streaming "
        f"{_ratio('streaming/python_reference', 'streaming/rust_compute_streaming')} "
        "faster than the pure-Python reference engine (limit >= 5x)"
    )
    write(
        f"  batch: compute_batch into a reused out= buffer {_ns('batch/rust_compute_batch_out').strip()} "
        "(limit 16 ns/bar), "
        f"{_ratio('batch/talib_columns', 'batch/rust_compute_batch_out')} faster than TA-Lib's 12 loose "
        "columns (limit >= 2.5x)"
    )
    write(
        f"  batch: a fresh result {_ns('batch/rust_compute_batch').strip()} "
        f"({PAGE_FAULTS.get('batch/rust_compute_batch', 'n/a')} minor page faults per call; reused out=: "
        f"{PAGE_FAULTS.get('batch/rust_compute_batch_out', 'n/a')}), "
        f"{_ratio('batch/talib_matrix', 'batch/rust_compute_batch')} faster than TA-Lib building the same "
        f"(N, 12) matrix, {_ratio('batch/talib_columns', 'batch/rust_compute_batch')} vs its loose columns"
    )
    write(
        f"  cpu probe (pure-Python loop, ns/iteration; the anchors' median was 43.1): start "
        f"{_ns('probe/cpu_start', PER_BAR).strip()}, interleaved {_ns('probe/cpu', INTERLEAVED).strip()}, "
        f"end {_ns('probe/cpu_end', PER_BAR).strip()}"
    )


def _write_curves(terminalreporter: Any) -> None:
    if not CURVES:
        return
    write = terminalreporter.write_line
    terminalreporter.section("features: how cost grows (medians per bar, same run; ratio to the first point)")
    for curve in sorted({name for name, _ in CURVES}):
        points = sorted((n, t) for (name, n), t in CURVES.items() if name == curve)
        base = points[0][1]
        write(f"  {curve}:")
        for n, t in points:
            write(f"    {n:>7,} {t * 1e9:8.1f} ns/bar  {t / base:5.2f}x")
        steps = [(t1 / t0, n0, n1) for (n0, t0), (n1, t1) in itertools.pairwise(points)]
        if steps:
            growth, start, end = max(steps)
            write(f"    steepest step in this run: {start:,} -> {end:,} ({growth:.2f}x per bar)")
        write(f"    where and why it bends: {CURVE_NOTES.get(curve, 'n/a')}")
