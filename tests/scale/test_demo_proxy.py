"""``tradebridge demo --topology proxy``: the whole flow through one bus-proxy with two strategies, and the
demo's own consistency checks hold (every signal of both strategies seen, received by the engine, and
turned into an order or a counted refusal)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tradebridge.testing import rust_binary

pytestmark = pytest.mark.slow


def test_the_demo_runs_through_the_proxy_with_two_strategies(tmp_path: Path) -> None:
    rust_binary("bus-proxy")
    command = [sys.executable, "-m", "tradebridge.cli", "demo", "--quiet", "--topology", "proxy"]
    command += ["--bars", "80", "--market", "synthetic", "--seed", "5", "--report", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bus-proxy         ready" in done.stderr + done.stdout
    assert "strategy-2        connected" in done.stderr + done.stdout
    data = json.loads((tmp_path / "report.json").read_text())
    engine = {k: int(float(v)) for k, v in data["engine_metrics"].items() if v.replace(".", "").isdigit()}
    ids = {s["signal_id"].rsplit("-", 1)[0] for s in data["signals"]}
    assert len(ids) == 2, f"signals of two strategies expected, got run ids {ids}"
    assert engine["signals_received"] == len(data["signals"]) == data["summary"]["signals"]
    assert engine["signals_received"] == engine["orders_submitted"] + engine["refused_total"]
