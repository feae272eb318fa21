"""Helpers for tests of services built on tradebridge (ours and our users'): free ports, Rust binaries.

Shipped with the SDK on purpose: users run ``pytest conformance/`` in their own CI and write their own
integration tests against real sockets, and they need the same small tools we use.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

__all__ = ["free_port", "rust_binary"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the kernel just found free on ``host``, so parallel test runs never clash."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def rust_binary(name: str) -> Path:
    """Path of one of our Rust binaries (``make build`` puts them in ``$TRADEBRIDGE_BIN_DIR``).

    Raises ``FileNotFoundError`` naming the command that builds it: a missing binary is a failed test,
    never a skipped one.
    """
    root = Path(__file__).resolve().parents[3]
    directory = Path(os.environ.get("TRADEBRIDGE_BIN_DIR", root / "target" / "release"))
    path = directory / name
    if not path.is_file():
        raise FileNotFoundError(f"Rust binary {name!r} not found in {directory}; run 'make build' first")
    return path
