"""Shared fixtures of the conformance suite: the report every area writes into.

At the end of the session the report is written to ``reports/conformance.json`` (next to the JUnit XML that
``.ci/run`` asks pytest for), so CI keeps the latency histograms and per-vector verdicts of each run.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

REPORT_PATH = Path(os.environ.get("TRADEBRIDGE_REPORT_DIR", "reports")) / "conformance.json"


class ConformanceReport:
    """Sections of named records; each area adds what it proved (vectors, histograms, schemathesis runs)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.sections: dict[str, dict[str, Any]] = {}

    def record(self, section: str, name: str, value: Any) -> None:
        self.sections.setdefault(section, {})[name] = value

    def write(self, path: Path = REPORT_PATH) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        body = {"started": self.started, "duration_s": time.time() - self.started, "sections": self.sections}
        path.write_text(json.dumps(body, indent=2, sort_keys=True, default=str))


@pytest.fixture(scope="session")
def conformance_report() -> Any:
    report = ConformanceReport()
    yield report
    report.write()
