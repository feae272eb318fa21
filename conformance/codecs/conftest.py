"""Fixtures of the codec conformance suite: the testees, the schema oracle, the known-failure lists."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance.codecs.harness import (
    PythonTestee,
    RustTestee,
    SchemaOracle,
    load_known_failures,
)


@pytest.fixture(scope="session")
def rust_testee() -> Iterator[RustTestee]:
    testee = RustTestee()
    yield testee
    testee.close()


@pytest.fixture(scope="session")
def python_testee() -> PythonTestee:
    return PythonTestee()


@pytest.fixture(scope="session")
def schema_oracle() -> SchemaOracle:
    return SchemaOracle()


@pytest.fixture(scope="session")
def known_failures() -> dict[str, set[str]]:
    return load_known_failures()


@pytest.fixture(scope="session", autouse=True)
def codec_summary(conformance_report: Any) -> Iterator[None]:
    """Per implementation, how many vectors passed, failed as listed, or failed (into the JSON report)."""
    yield
    verdicts = conformance_report.sections.get("codecs", {})
    summary: dict[str, dict[str, int]] = {}
    for key, verdict in verdicts.items():
        implementation = key.split(":", 1)[0]
        counts = summary.setdefault(implementation, {})
        counts[verdict["status"]] = counts.get(verdict["status"], 0) + 1
    conformance_report.record("codecs_summary", "by_implementation", summary)
