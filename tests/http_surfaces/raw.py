"""Raw-socket clients for the HTTP surface tests: oversized requests, slowloris heads, trickled bodies,
idle connections holding slots, and where a port listens (``/proc/net/tcp``)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

ADDRESS = "127.0.0.1"


def connect(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection((ADDRESS, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_reply(sock: socket.socket, timeout: float = 5.0) -> tuple[int | None, bytes, bool]:
    """``(status, bytes read, closed by the server)`` once the server closes or ``timeout`` passes."""
    sock.settimeout(0.2)
    data = b""
    closed = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if b"\r\n\r\n" in data and _complete(data):
                break
            continue
        except ConnectionResetError:
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else None
    return status, data, closed


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def exchange(port: int, request: bytes, timeout: float = 5.0) -> tuple[int | None, bytes, bool]:
    """Send ``request`` on a new connection and read the answer."""
    with connect(port, timeout) as sock:
        # The server may refuse before reading it all: what it answered is still readable.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        return read_reply(sock, timeout)


def get(port: int, path: str, timeout: float = 5.0, headers: str = "") -> tuple[int | None, bytes]:
    status, data, _ = exchange(
        port,
        f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n".encode(),
        timeout,
    )
    return status, data.partition(b"\r\n\r\n")[2]


@contextlib.contextmanager
def slowloris(port: int, n: int, path: str) -> Iterator[list[socket.socket]]:
    """``n`` connections that each sent a request line and one header, and never finish the head."""
    socks = []
    try:
        for i in range(n):
            sock = connect(port)
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Slow-{i}: ".encode())
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def trickle(socks: list[socket.socket]) -> None:
    """One more byte on each slow connection (a slowloris keeps its connections looking alive)."""
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.sendall(b"a")


def closed_by_server(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closed ``sock`` (EOF or reset, possibly after an error answer) in time."""
    _, _, closed = read_reply(sock, timeout)
    return closed


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on ``port`` (``/proc/net/tcp`` and ``tcp6``)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1]))
            else:
                raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8))
                found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found
