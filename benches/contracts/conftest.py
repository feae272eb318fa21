"""Collect this folder's ``bench_*.py`` files and print the ratios the contracts benchmarks promise."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path

import pytest

# (group, codec) -> median seconds, filled in by bench_codecs.py as each benchmark finishes.
MEDIANS: dict[tuple[str, str], float] = {}


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Module | None:
    # With `-o python_files="bench_*.py"` pytest collects them itself: collecting here too would run
    # every benchmark twice.
    already = any(fnmatch(file_path.name, pattern) for pattern in parent.config.getini("python_files"))
    if (
        not already
        and file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and file_path.parent == Path(__file__).parent
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


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
