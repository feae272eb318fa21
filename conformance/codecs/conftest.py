"""Fixtures of the codec conformance suite: the testees, the schema oracle, the known-failure lists."""

from __future__ import annotations

from collections.abc import Iterator

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
