"""Fixtures of the bus tests: real sockets on loopback (random ports) and ipc in a temporary folder."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_ipc_names = itertools.count()


@pytest.fixture(scope="session")
def ipc_dir() -> Iterator[Path]:
    # a short path: ipc endpoints are Unix socket paths, limited to about 100 bytes
    with tempfile.TemporaryDirectory(prefix="tb-bus-") as folder:
        yield Path(folder)


@pytest.fixture(params=["tcp", "ipc"])
def bind_endpoint(request: pytest.FixtureRequest, ipc_dir: Path) -> str:
    """An endpoint a publisher can bind: tcp with a kernel-picked port, or a fresh ipc path."""
    if request.param == "tcp":
        return "tcp://127.0.0.1:*"
    return f"ipc://{ipc_dir}/{next(_ipc_names)}.sock"
