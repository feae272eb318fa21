"""Print the scale figures (one run each) at the end of the benchmark run."""

from __future__ import annotations

import os

import pytest

#: name -> one printed line
FIGURES: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("scale: proxy, fan-out, namespaces, NATS bridge (one run each)")
    # absolute rates depend on what else runs: the machine's state is printed with them
    one, five, _ = os.getloadavg()
    terminalreporter.write_line(
        f"{'machine':<34} {os.cpu_count()} cores, load average {one:.1f} (5 min {five:.1f})"
    )
    for name, text in FIGURES.items():
        terminalreporter.write_line(f"{name:<34} {text}")
