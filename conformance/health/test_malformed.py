"""Malformed and hostile requests against both servers, over raw sockets: always a 4xx (or, for bytes
that are not HTTP at all, at worst a closed connection), never a 5xx, never a dead server."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from conformance.health.conftest import ProbeProcess, ServerUnderTest, start_server

CASES = {
    "garbage": b"\x00\x01\x02 garbage \xff\xfe\r\n\r\n",
    "bad version": b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
    "space in method": b"G T /health HTTP/1.1\r\nHost: x\r\n\r\n",
    "header without colon": b"GET /health HTTP/1.1\r\nHost x\r\n\r\n",
    "huge header": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n",
    "huge request line": b"GET /" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "negative content-length": b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -3\r\n\r\n",
    "two content-lengths": (
        b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    ),
    "bad chunked body": b"POST /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "nul in path": b"GET /hea\x00lth HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.fixture(scope="module", params=["python", "rust"])
def target(request: pytest.FixtureRequest) -> Iterator[ServerUnderTest]:
    server = start_server(request.param)
    try:
        yield server
    finally:
        server.close()


def _address(server: ServerUnderTest) -> tuple[str, int]:
    host, _, port = server.url.removeprefix("http://").rpartition(":")
    return host, int(port)


def _exchange(server: ServerUnderTest, data: bytes, timeout: float = 5.0) -> int:
    """Send ``data``; the status code of the answer, 0 if the server closed without one."""
    with socket.create_connection(_address(server), timeout=timeout) as sock:
        received = b""
        # The server may answer and close before reading it all: what it sent is still readable.
        with contextlib.suppress(OSError):
            sock.sendall(data)
        deadline = time.monotonic() + timeout
        try:
            while b"\r\n" not in received and time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
    parts = received.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _alive(server: ServerUnderTest) -> bool:
    return _exchange(server, b"GET /live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 200


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_request_gets_4xx(target: ServerUnderTest, case: str) -> None:
    status = _exchange(target, CASES[case])
    if case == "garbage":
        assert status == 0 or 400 <= status < 500, status
    else:
        assert 400 <= status < 500, status
    assert _alive(target)


def test_idle_and_half_sent_connections_do_not_block_others(target: ServerUnderTest) -> None:
    idle = [socket.create_connection(_address(target), timeout=5) for _ in range(100)]
    try:
        for i, sock in enumerate(idle):
            if i % 2:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        started = time.monotonic()
        assert all(_alive(target) for _ in range(20))
        assert time.monotonic() - started < 5
    finally:
        for sock in idle:
            sock.close()
    assert _alive(target)


@pytest.mark.parametrize("implementation", ["python", "rust"])
@pytest.mark.parametrize("how", ["quit", "SIGTERM", "SIGINT"])
def test_stops_promptly_with_open_connections(implementation: str, how: str) -> None:
    """An idle keep-alive, a half-sent request and a silent connection must not hold the exit."""
    probe = ProbeProcess(implementation, "market-data")
    address = _address(probe)
    idle = socket.create_connection(address, timeout=5)
    half = socket.create_connection(address, timeout=5)
    half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    keep_alive = socket.create_connection(address, timeout=5)
    keep_alive.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
    assert keep_alive.recv(4096).startswith(b"HTTP/1.1 200")
    try:
        started = time.monotonic()
        if how == "quit":
            assert probe.process.stdin is not None
            probe.process.stdin.write("quit\n")
            probe.process.stdin.flush()
        else:
            probe.process.send_signal(getattr(signal, how))
        assert probe.process.wait(10) == 0
        assert time.monotonic() - started < 5
    finally:
        for sock in (idle, half, keep_alive):
            sock.close()
        probe.close()
