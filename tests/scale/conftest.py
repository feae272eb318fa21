from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.scale.netns import Fabric, NetnsUnavailableError, probe, remove_stale


@pytest.fixture(scope="session")
def netns_available() -> None:
    """Skips (with the reason) where namespaces are refused; with CI=true that is a failure instead."""
    try:
        remove_stale()
        probe()
    except (NetnsUnavailableError, OSError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true, and this machine refuses network namespaces: {exc}")
        pytest.skip(f"network namespaces refused here (needs root or CAP_NET_ADMIN): {exc}")


@pytest.fixture
def fabric(netns_available: None) -> Iterator[Fabric]:
    """Hosts A (market data), B (proxy), C and D (strategies), E (signal sink) on one switch."""
    with Fabric(["A", "B", "C", "D", "E"]) as fabric:
        yield fabric
