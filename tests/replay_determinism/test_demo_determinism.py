"""Deterministic runs (issue 18, items 3 and 5): the real `tradebridge demo` (mock broker, market-data, the
Rust engine, examples/strategy.py, each its own process), run twice on one seed and replayed twice from the
capture one of those runs recorded: every run must decide exactly the same signals, orders, fills and P&L.

What is compared is the report's ``outcome``: every signal (side, strength, price, its bar's time, what became
of it), every order at the broker (its id, status, fill price and fill time), the refusals, the positions and
the P&L to the cent; only wall-clock times and the run's random id prefix are left out
(``tradebridge_demo.outcome``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tradebridge.capture import capture_info
from tradebridge.testing import rust_binary

pytestmark = pytest.mark.slow

DEMO = [sys.executable, "-m", "tradebridge.cli", "demo", "--quiet"]
#: short runs: 140 bars of 3 symbols still trade (the indicators warm up in about 35)
BARS = ("--bars", "140", "--seed", "7")


def run_demos(*runs: tuple[Path, list[str]]) -> list[dict[str, Any]]:
    """Run the demos side by side (the machine's load differs from run to run, which is the point), and
    return their reports."""
    rust_binary("execution-engine")  # a missing binary fails here, with the command that builds it
    started = [
        subprocess.Popen(
            [*DEMO, "--report", str(report), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for report, args in runs
    ]
    reports = []
    try:
        for (report, _), process in zip(runs, started, strict=True):
            stdout, stderr = process.communicate(timeout=150)
            assert process.returncode == 0, stdout + stderr
            assert " deterministic;" in stderr, stderr
            data: dict[str, Any] = json.loads((report / "report.json").read_text())
            assert data["summary"]["fingerprint"] in stdout
            reports.append(data)
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()  # the demo stops the services it started
                process.communicate(timeout=30)
    return reports


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """Two runs of one seed at once, the first with ``--record``: its capture folder and both reports."""
    base = tmp_path_factory.mktemp("seeded")
    capture = base / "capture"
    first, second = run_demos(
        (base / "first", [*BARS, "--record", str(capture)]), (base / "second", list(BARS))
    )
    return capture, first, second


def assert_same_outcome(first: dict[str, Any], second: dict[str, Any]) -> None:
    a, b = first["outcome"], second["outcome"]
    assert a["signals"] == b["signals"]
    assert a["orders"] == b["orders"]
    assert (a["pnl"], a["equity_end"], a["positions"]) == (b["pnl"], b["equity_end"], b["positions"])
    assert a == b
    assert first["summary"]["fingerprint"] == second["summary"]["fingerprint"]


def test_two_runs_with_one_seed_decide_the_same(
    seeded: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    _, first, second = seeded
    outcome = first["outcome"]
    fills = [o for o in outcome["orders"] if o["filled_qty"] > 0]
    # a run that decided nothing would be trivially equal
    assert len(outcome["signals"]) >= 5 and len(fills) >= 3, outcome
    assert all(o["filled_at_ns"] and o["filled_avg_price"] for o in fills)
    # the signals carry their bar's time (market time), and fills are stamped by the bars' clock
    start_ms = 1_735_828_200_000
    assert all(start_ms <= s["timestamp"] < start_ms + 140 * 60_000 for s in outcome["signals"])
    assert all(start_ms * 10**6 < o["filled_at_ns"] <= (start_ms + 141 * 60_000) * 10**6 for o in fills)
    assert_same_outcome(first, second)
    assert first["summary"]["pnl"] == second["summary"]["pnl"]


def test_a_recorded_run_replays_to_the_same_outcome_twice(
    seeded: tuple[Path, dict[str, Any], dict[str, Any]], tmp_path: Path
) -> None:
    capture, original, _ = seeded
    # the capture holds every topic of the run, next to a copy of its report
    info = capture_info(capture / "capture.parquet")
    signals = len(original["outcome"]["signals"])
    assert info.messages >= 140 * 3 + 2 * signals and info.gaps == 0
    assert json.loads((capture / "report.json").read_text())["summary"] == original["summary"]
    replays = run_demos(*((tmp_path / f"replay{n}", ["--replay", str(capture)]) for n in (1, 2)))
    for replay in replays:
        assert replay["config"]["replay"] == str(capture / "capture.parquet")
        assert replay["summary"]["bars"] == 140 * 3
        assert_same_outcome(original, replay)


@pytest.mark.stress
@pytest.mark.parametrize("seed", [3, 11, 29])
def test_full_length_runs_decide_the_same(seed: int, tmp_path: Path) -> None:
    """The demo's default length (300 bars of 3 symbols), more seeds: `make stress`."""
    args = ["--seed", str(seed)]
    first, second = run_demos((tmp_path / "a", args), (tmp_path / "b", args))
    print(f"seed {seed}: fingerprint {first['summary']['fingerprint']}, P&L {first['summary']['pnl']:+.2f}")
    assert first["outcome"]["signals"]
    assert_same_outcome(first, second)
