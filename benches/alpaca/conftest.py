"""Collects ``bench_*.py`` here and prints our adapter's cost over bare alpaca-py after the run."""

from __future__ import annotations

import pytest

# (operation, client) -> median seconds, filled in by bench_adapter.py
MEDIANS: dict[tuple[str, str], float] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not MEDIANS:
        return
    terminalreporter.section("alpaca adapter vs bare alpaca-py, same mock broker (median; lower is faster)")
    for operation in sorted({op for op, _ in MEDIANS}):
        ours = MEDIANS.get((operation, "tradebridge"))
        bare = MEDIANS.get((operation, "alpaca-py"))
        if ours and bare:
            terminalreporter.write_line(
                f"{operation:<14} tradebridge {ours * 1e6:8.0f} us   alpaca-py {bare * 1e6:8.0f} us   "
                f"ratio {ours / bare:.2f}x"
            )
