"""Fixtures of the kit's own tests: the testee commands (ours, the foreign one, the broken ones)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from tradebridge.testing import rust_binary

CHECKOUT = Path(__file__).resolve().parents[2]
TESTEES = CHECKOUT / "conformance" / "testees"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def python_testee_command() -> list[str]:
    return [sys.executable, "-m", "tradebridge.conformance.python_testee"]


@pytest.fixture(scope="session")
def rust_testee_command() -> list[str]:
    return [str(rust_binary("contracts-testee"))]


@pytest.fixture(scope="session")
def node_testee_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node is not installed")
    return [node, str(TESTEES / "node" / "testee.js")]


@pytest.fixture(scope="session")
def broken_testee_command() -> list[str]:
    return [sys.executable, str(TESTEES / "broken" / "testee.py")]


@pytest.fixture(scope="session")
def original_testee_command() -> list[str]:
    return [sys.executable, str(TESTEES / "original" / "testee.py")]


def misbehaving(mode: str, *payload_hex: str) -> list[str]:
    return [sys.executable, str(HERE / "misbehaving.py"), mode, *payload_hex]
