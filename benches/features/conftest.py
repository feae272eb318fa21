"""Collects ``bench_*.py`` here and prints the ours-vs-baseline ratios after the run."""

from __future__ import annotations

from typing import Any

# name -> median seconds per bar, filled by the benchmarks of this folder: one benchmark per candidate
# (the pytest-benchmark tables), and all candidates interleaved round-robin (the ratios)
PER_BAR: dict[str, float] = {}
INTERLEAVED: dict[str, float] = {}


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
        f"  streaming: compute_streaming {_ns('streaming/rust_compute_streaming').strip()} "
        f"(target <= 250 ns/bar); {_ratio('streaming/python_reference', 'streaming/rust_compute_streaming')} "
        "faster than the pure-Python reference (target >= 5x)"
    )
    write(
        f"  streaming: compute_into {_ratio('streaming/python_reference', 'streaming/rust_compute_into')} "
        f"faster than the reference; the Python floor (loop + call + 12-float list, no maths) is "
        f"{_ns('streaming/python_floor').strip()}"
    )
    write(
        f"  batch: compute_batch {_ratio('batch/talib_matrix', 'batch/rust_compute_batch')} faster than "
        f"TA-Lib building the same (N, 12) matrix (target >= 3x); with a reused out= buffer "
        f"{_ratio('batch/talib_matrix', 'batch/rust_compute_batch_out')}; TA-Lib's 12 loose columns alone: "
        f"{_ratio('batch/talib_columns', 'batch/rust_compute_batch')}"
    )
    write(
        f"  cpu probe (pure-Python loop, ns/iteration; the anchors' median was 43.1): start "
        f"{_ns('probe/cpu_start', PER_BAR).strip()}, interleaved {_ns('probe/cpu', INTERLEAVED).strip()}, "
        f"end {_ns('probe/cpu_end', PER_BAR).strip()}"
    )
