"""``tradebridge contracts check`` on the whole schema set: the issue's target is under 1 s.

In process (load both directories, walk every message, every ``$ref``), in the strictest mode, and as the
command a CI step runs (a fresh Python process, imports included). The medians are printed at the end.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tradebridge.contracts.compat import check

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "contracts" / "released" / "1.0"
V1 = ROOT / "contracts" / "v1"
TARGET_S = 1.0


def _report(benchmark: Any, what: str) -> None:
    median = benchmark.stats.stats.median
    verdict = "within" if median < TARGET_S else "OUTSIDE"
    print(f"\ncontracts check, {what}: median {median * 1e3:.1f} ms (target < {TARGET_S:.0f} s: {verdict})")


@pytest.mark.benchmark(group="contracts check")
def test_check_in_process(benchmark: Any) -> None:
    report = benchmark(check, RELEASED, V1, "FULL")
    assert report.compatible
    _report(benchmark, "in process, FULL")


@pytest.mark.benchmark(group="contracts check")
def test_check_strict_policy(benchmark: Any) -> None:
    benchmark(check, RELEASED, V1, "FULL", "strict")
    _report(benchmark, "in process, FULL, strict policy")


@pytest.mark.benchmark(group="contracts check")
def test_check_command(benchmark: Any) -> None:
    command = [sys.executable, "-m", "tradebridge.contracts.compat.cli", "check", str(RELEASED), str(V1)]

    def run() -> int:
        return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode

    assert benchmark.pedantic(run, rounds=5, iterations=1) == 0
    _report(benchmark, "the command (new process)")
