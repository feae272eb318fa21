"""Helpers for tests of services built on tradebridge (ours and our users'): free ports, our Rust binaries,
and a supervisor that starts a service, waits until it is ready and always stops it.

Shipped with the SDK on purpose: users run ``pytest conformance/`` in their own CI and write their own
integration tests against real sockets and processes, and they need the same small tools we use.
"""

from __future__ import annotations

from tradebridge.testing._binaries import BIN_DIR_VARIABLE, BinaryNotFoundError, rust_binary
from tradebridge.testing._ports import free_port, port_is_free
from tradebridge.testing._supervisor import ReadyCheck, Service, ServiceError, is_ready

__all__ = [
    "BIN_DIR_VARIABLE",
    "BinaryNotFoundError",
    "ReadyCheck",
    "Service",
    "ServiceError",
    "free_port",
    "is_ready",
    "port_is_free",
    "rust_binary",
]
