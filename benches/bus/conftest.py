"""Collect this folder's ``bench_*.py`` files and print the bus ratios at the end of the run."""

from __future__ import annotations

import pytest

# (group, candidate) -> median seconds of one round; EXTRA holds figures measured outside pytest-benchmark
MEDIANS: dict[tuple[str, str], float] = {}
EXTRA: dict[str, str] = {}

#: per group: (our candidate, the baseline, how many messages one round handles, target ratio baseline/ours)
RATIOS: dict[str, tuple[str, str, int, float]] = {}
#: per group, further ratios to print: (our candidate, a baseline, target ratio baseline/ours)
MORE_RATIOS: dict[str, list[tuple[str, str, float]]] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not MEDIANS and not EXTRA:
        return
    write = terminalreporter.write_line
    terminalreporter.section("bus: ours vs baseline (median of the rounds of this run)")
    for group in sorted({group for group, _ in MEDIANS}):
        ours, baseline, per_round, target = RATIOS[group]
        for (g, candidate), median in sorted(MEDIANS.items(), key=lambda item: item[1]):
            if g == group:
                rate, each = per_round / median, median / per_round * 1e6
                write(f"{group:<22} {candidate:<40} {rate:>12,.0f} msg/s  {each:8.2f} us/msg")
        for candidate, against, limit in [(ours, baseline, target), *MORE_RATIOS.get(group, [])]:
            if (group, candidate) in MEDIANS and (group, against) in MEDIANS:
                ratio = MEDIANS[(group, against)] / MEDIANS[(group, candidate)]
                verdict = "met" if ratio >= limit else "MISSED"
                write(
                    f"{group:<22} speed of {candidate} relative to {against} = {ratio:.2f} "
                    f"(target >= {limit}: {verdict})"
                )
    for name, text in EXTRA.items():
        write(f"{name:<22} {text}")
