"""Loss accounting per ``(topic, source)``: one set of scenarios, two implementations.

Each ``loss_accounting/*.json`` lists receipts ``[topic, source, seq]`` (``null`` for a plain peer's
missing field) and the counters a subscriber must end with. The Python tracker runs them here; the Rust
crate runs the same files in ``crates/tradebridge-bus/tests/loss_accounting.rs``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tradebridge.bus.stats import SequenceTracker, SubscriberStats

SCENARIOS = sorted((Path(__file__).parent / "loss_accounting").glob("*.json"))


def missing_or_different(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` differs from ``expected``; only the keys ``expected`` names are compared."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path or '$'}: expected an object, got {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(missing_or_different(value, actual[key], f"{path}.{key}"))
        return problems
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 8


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_python_tracker_follows_the_scenario(path: Path) -> None:
    scenario = json.loads(path.read_text(encoding="utf-8"))
    tracker = SequenceTracker(SubscriberStats(), scenario.get("max_sources", 4096))
    for topic, source, seq in scenario["receipts"]:
        tracker.observe(topic, seq, source)
    assert missing_or_different(scenario["expected"], tracker.stats.as_dict()) == []
