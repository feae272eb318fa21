from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bridges.nats_server import NatsNode, nats_cluster


@pytest.fixture(scope="module")
def nats_node() -> Iterator[NatsNode]:
    """One JetStream server for the module (each test uses its own stream prefix)."""
    with nats_cluster(1) as nodes:
        yield nodes[0]
