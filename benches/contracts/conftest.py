"""Collect this folder's ``bench_*.py`` files and print the ratios the contracts benchmarks promise."""

from __future__ import annotations

import pytest

# (group, codec) -> median seconds, filled in by bench_codecs.py as each benchmark finishes.
MEDIANS: dict[tuple[str, str], float] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not MEDIANS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("contracts codec ratios (median; lower is faster)")
    for group in sorted({group for group, _ in MEDIANS}):
        sdk = MEDIANS.get((group, "sdk"))
        bare = MEDIANS.get((group, "bare msgspec Struct"))
        for (g, codec), median in sorted(MEDIANS.items(), key=lambda item: item[1]):
            if g == group:
                ratio = f"  sdk/{codec} = {sdk / median:.2f}x" if sdk and codec != "sdk" else ""
                write(f"{group:<21} {codec:<22} {median * 1e9:9.0f} ns{ratio}")
        if sdk and bare and group.endswith("decode"):
            target = "within" if sdk / bare <= 1.25 else "OUTSIDE"
            write(f"{group:<21} target: sdk within 1.25x of the bare Struct -> {sdk / bare:.2f}x ({target})")
