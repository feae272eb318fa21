"""Print the capture ratios at the end of the run (same shape as the bus benchmarks' summary)."""

from __future__ import annotations

import pytest

# (group, candidate) -> median seconds of one round; EXTRA holds figures measured outside pytest-benchmark
MEDIANS: dict[tuple[str, str], float] = {}
EXTRA: dict[str, str] = {}

#: per group: (our candidate, the baseline, messages per round, the most ours may cost: ours/baseline time)
LIMITS: dict[str, tuple[str, str, int, float]] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not MEDIANS and not EXTRA:
        return
    write = terminalreporter.write_line
    terminalreporter.section("capture: ours vs baseline (median of the rounds of this run)")
    for group in sorted({group for group, _ in MEDIANS}):
        ours, baseline, per_round, limit = LIMITS[group]
        for (g, candidate), median in sorted(MEDIANS.items(), key=lambda item: item[1]):
            if g == group:
                rate, each = per_round / median, median / per_round * 1e6
                write(f"{group:<16} {candidate:<44} {rate:>12,.0f} msg/s  {each:8.2f} us/msg")
        if (group, ours) in MEDIANS and (group, baseline) in MEDIANS:
            ratio = MEDIANS[(group, ours)] / MEDIANS[(group, baseline)]
            verdict = "met" if ratio <= limit else "MISSED"
            write(f"{group:<16} cost {ours} / {baseline} = {ratio:.2f}x (limit <= {limit}x: {verdict})")
    for name, text in EXTRA.items():
        write(f"{name:<16} {text}")
