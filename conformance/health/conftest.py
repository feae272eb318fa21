"""Health servers under test, Rust and Python, behind one small control interface.

The Rust one is the real ``health-probe-server`` binary (the crate's server, its state driven over
stdin); the Python one is ``tradebridge.health.HealthServer`` in its own thread, because schemathesis's
engine is synchronous and would starve a server sharing its thread's event loop.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from tradebridge.health import HealthCheck, HealthServer, HealthStatus
from tradebridge.testing import rust_binary

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "contracts" / "openapi" / "health.openapi.yaml"
SCHEMAS = ROOT / "contracts" / "v1"
IMPLEMENTATIONS = ("python", "rust")


_CHECKOUT = Path(__file__).resolve().parents[2]


class ServerUnderTest(Protocol):
    url: str

    def set_status(self, status: str, message: str) -> None: ...
    def set_ready(self, ready: bool, reason: str = "") -> None: ...
    def set_metric(self, name: str, value: str) -> None: ...
    def close(self) -> None: ...


class PythonServer:
    def __init__(self, component: str) -> None:
        self.health = HealthCheck.healthy(component)
        self.server = HealthServer(self.health, port=0, host="127.0.0.1")
        self.server.start_in_thread()
        self.url = self.server.url

    def set_status(self, status: str, message: str) -> None:
        self.health.set_status(HealthStatus(status), message)

    def set_ready(self, ready: bool, reason: str = "") -> None:
        if ready:
            self.health.mark_ready()
        else:
            self.health.not_ready(reason)

    def set_metric(self, name: str, value: str) -> None:
        self.health.with_metric(name, value)

    def close(self) -> None:
        self.server.close()


class ProbeProcess:
    """A probe server in its own process (Rust ``health-probe-server`` or ``python -m
    conformance.testees.python.health_probe``), its state driven over stdin."""

    def __init__(self, implementation: str, component: str, *extra: str) -> None:
        if implementation == "rust":
            command = [str(rust_binary("health-probe-server"))]
        else:
            command = [sys.executable, "-m", "conformance.testees.python.health_probe"]
        self.process = (
            subprocess.Popen(  # cwd: the testee runs as a module of the checkout's conformance package
                [*command, "--host", "127.0.0.1", "--port", "0", "--component", component, *extra],
                stdin=subprocess.PIPE,
                cwd=_CHECKOUT,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline().strip()
        if not first.startswith("listening "):
            self.close()
            raise RuntimeError(f"{implementation} health probe did not start: {first!r}")
        self.url = "http://" + first.removeprefix("listening ")

    def command(self, line: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline().strip()
        if not reply or reply.startswith("error"):
            raise RuntimeError(f"{line!r}: {reply!r}")
        return reply

    def tick_lag(self) -> dict[str, float]:
        """Lateness of the simulated main loop's ticks since the last reset (needs ``--tick-ms``)."""
        summary: dict[str, float] = json.loads(self.command("lag"))
        return summary

    def set_status(self, status: str, message: str) -> None:
        self.command(f"status {status} {message}")

    def set_ready(self, ready: bool, reason: str = "") -> None:
        self.command("ready true" if ready else f"ready false {reason}")

    def set_metric(self, name: str, value: str) -> None:
        self.command(f"metric {name} {value}")

    def close(self) -> None:
        assert self.process.stdin is not None
        if self.process.poll() is None:
            self.process.stdin.close()  # end of stdin: a clean exit
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        else:
            self.process.stdin.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        assert self.process.returncode == 0, f"probe exited with {self.process.returncode}"


def start_server(implementation: str, component: str = "market-data") -> ServerUnderTest:
    return PythonServer(component) if implementation == "python" else ProbeProcess("rust", component)


@pytest.fixture(params=IMPLEMENTATIONS)
def server(request: pytest.FixtureRequest) -> Iterator[ServerUnderTest]:
    started = start_server(request.param)
    try:
        yield started
    finally:
        started.close()
