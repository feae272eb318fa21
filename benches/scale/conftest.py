"""Print the scale figures (one run each) at the end of the benchmark run."""

from __future__ import annotations

import pytest

#: name -> one printed line
FIGURES: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("scale: proxy, fan-out, namespaces, NATS bridge (one run each)")
    for name, text in FIGURES.items():
        terminalreporter.write_line(f"{name:<34} {text}")
