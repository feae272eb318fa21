"""Fixtures of the broker-access suite: both testees, and the verdict summary in the conformance report."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance.broker_access.harness import PythonTestee, RustTestee


@pytest.fixture(scope="session")
def rust_broker_testee() -> Iterator[RustTestee]:
    testee = RustTestee()
    yield testee
    testee.close()


@pytest.fixture(scope="session")
def testees(rust_broker_testee: RustTestee) -> dict[str, Any]:
    return {"python": PythonTestee(), "rust": rust_broker_testee}


@pytest.fixture(scope="session", autouse=True)
def broker_access_summary(conformance_report: Any) -> Iterator[None]:
    """Per implementation and rule, how many vectors passed or failed (into the JSON report)."""
    yield
    verdicts = conformance_report.sections.get("broker_access", {})
    summary: dict[str, dict[str, int]] = {}
    for key, status in verdicts.items():
        implementation, rule = key.split(":", 1)[0], key.split(":", 1)[1].split("/", 1)[0]
        counts = summary.setdefault(f"{implementation}/{rule}", {})
        counts[status] = counts.get(status, 0) + 1
    conformance_report.record("broker_access_summary", "by_implementation", summary)
