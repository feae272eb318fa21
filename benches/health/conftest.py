"""Collect this folder's ``bench_*.py`` files and print the health benchmarks' ratios after the run."""

from __future__ import annotations

from typing import Any

import pytest

#: (instrument, implementation) -> median seconds, filled in by bench_telemetry.py
MEDIANS: dict[tuple[str, str], float] = {}
#: server variant -> tick-lag measurements, filled in by bench_health_burst.py
BURSTS: dict[str, dict[str, Any]] = {}
#: issue 13: a Python service's main-loop p99 under the burst at most this many times its idle p99
P99_LIMIT = 2.0


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write = terminalreporter.write_line
    if MEDIANS:
        terminalreporter.section("health instruments: tradebridge vs prometheus_client (median)")
        for instrument in sorted({name for name, _ in MEDIANS}):
            ours, base = (
                MEDIANS.get((instrument, "tradebridge")),
                MEDIANS.get((instrument, "prometheus_client")),
            )
            if ours and base:
                write(
                    f"{instrument:<20} tradebridge {ours * 1e9:7.0f} ns"
                    f"   prometheus_client {base * 1e9:7.0f} ns   ratio {ours / base:.2f}x"
                )
    if BURSTS:
        terminalreporter.section("main-loop tick lateness (1 ms ticks): idle vs. a 10,000-request burst")
        write(
            f"{'server':<22}{'req/s':>8}{'idle p50':>10}{'burst p50':>11}{'ratio':>7}"
            f"{'idle p99':>10}{'burst p99':>11}{'ratio':>7}{'burst max':>11}{'ticks/s':>9}"
        )
        for variant, row in BURSTS.items():
            idle, loaded = row["idle"], row["burst"]
            ticks_per_s = loaded["ticks"] / row["elapsed_s"]
            p50_ratio = loaded["p50_us"] / max(idle["p50_us"], 1)
            p99_ratio = loaded["p99_us"] / max(idle["p99_us"], 1)
            write(
                f"{variant:<22}{row['rate']:>8.0f}"
                f"{idle['p50_us']:>8.0f}us{loaded['p50_us']:>9.0f}us{p50_ratio:>6.1f}x"
                f"{idle['p99_us']:>8.0f}us{loaded['p99_us']:>9.0f}us{p99_ratio:>6.1f}x"
                f"{loaded['max_us']:>9.0f}us{ticks_per_s:>9.0f}"
            )
        ratios = {
            variant: row["burst"]["p99_us"] / max(row["idle"]["p99_us"], 1) for variant, row in BURSTS.items()
        }
        if "python-native" in ratios:
            verdict = "met" if ratios["python-native"] <= P99_LIMIT else "NOT met"
            write(
                f"python-native p99 ratio {ratios['python-native']:.2f}x, limit {P99_LIMIT:.1f}x: {verdict}"
                + "".join(
                    f"; {old} (same run) {ratios[old]:.2f}x"
                    for old in ("python-aiohttp-thread", "python-aiohttp-loop")
                    if old in ratios
                )
            )
