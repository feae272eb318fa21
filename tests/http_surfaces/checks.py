"""The checks every HTTP surface must pass, over raw sockets: each ends by proving the server still serves
a normal client."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from tests.http_surfaces.raw import (
    closed_by_server,
    connect,
    exchange,
    get,
    read_reply,
    slowloris,
    trickle,
)


def still_serves(port: int, path: str, within: float = 5.0) -> int:
    """A normal client is answered 200 (retried briefly: a freed slot is released asynchronously); how
    many tries were refused first for the connection cap (503), each of which the server counts."""
    deadline = time.monotonic() + within
    refused = 0
    while True:
        status, body = get(port, path, timeout=2.0)
        if status == 200:
            return refused
        refused += status == 503
        if time.monotonic() > deadline:
            raise AssertionError(f"a normal GET {path} got {status}: {body[:200]!r}")
        time.sleep(0.05)


def oversized_head(port: int, path: str, statuses: tuple[int, ...]) -> None:
    """One 64 KiB header field: refused with one of ``statuses`` and the connection closed."""
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Big: ".encode() + b"a" * 65536 + b"\r\n\r\n"
    status, data, closed = exchange(port, request)
    assert status in statuses, data[:200]
    assert closed
    still_serves(port, path)


def too_many_headers(port: int, path: str, statuses: tuple[int, ...]) -> None:
    headers = "".join(f"X-H{i}: v\r\n" for i in range(500))
    status, data, closed = exchange(port, f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n".encode())
    assert status in statuses, data[:200]
    assert closed
    still_serves(port, path)


def declared_body_too_large(port: int, method: str, path: str, ok_path: str) -> None:
    """A 10 MB body announced (a few bytes sent): 413 at once, the connection closed."""
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: 10000000\r\n\r\n{"
    ).encode()
    started = time.monotonic()
    status, data, closed = exchange(port, request)
    assert status == 413, data[:200]
    assert closed
    assert time.monotonic() - started < 4.0, "413 must not wait for the body"
    still_serves(port, ok_path)


def slow_body(
    port: int, method: str, path: str, ok_path: str, statuses: tuple[int, ...], body_timeout: float
) -> None:
    """A body trickled after its head: answered (one of ``statuses``) within the body timeout and closed,
    while a normal client is served meanwhile."""
    with connect(port) as sock:
        sock.sendall(
            f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            'Content-Length: 100\r\n\r\n{"a":'.encode()
        )
        still_serves(port, ok_path)
        status, data, closed = read_reply(sock, timeout=body_timeout + 4.0)
    assert status in statuses, data[:200]
    assert closed


def slowloris_does_not_starve(port: int, path: str, n: int, header_timeout: float) -> None:
    """``n`` connections trickle a never-ending head: normal clients are served while they are open, and
    the server closes every one of them after its header timeout, trickling or not."""
    with slowloris(port, n, path) as socks:
        opened = time.monotonic()
        for _ in range(3):
            trickle(socks)
            still_serves(port, path, within=2.0)
        trickle(socks)
        for sock in socks:
            remaining = header_timeout + 4.0 - (time.monotonic() - opened)
            assert closed_by_server(sock, max(remaining, 0.5)), "a slowloris connection outlived the timeout"
        assert time.monotonic() - opened >= header_timeout * 0.8, "closed before its header timeout"
    still_serves(port, path)


def connection_cap(port: int, path: str, cap: int) -> int:
    """``cap`` idle connections fill every slot: the next one is answered 503 and closed; once they go,
    normal clients are served again. How many connections the server refused meanwhile: that one, and
    any try made before it noticed the idle ones had gone."""
    idle = [connect(port) for _ in range(cap)]
    try:
        time.sleep(0.3)  # accepted: the server counts them before the next one arrives
        status, data, closed = exchange(
            port, f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
        )
        assert status == 503, data[:200]
        assert b"too_many_connections" in data
        assert closed
    finally:
        for sock in idle:
            sock.close()
    return 1 + still_serves(port, path)


def metric(port: int, path: str, name: str, labels: dict[str, str] | None = None) -> float:
    """A sample's value on a ``/metrics`` page."""
    status, body = get(port, path)
    assert status == 200, body[:200]
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and (labels is None or dict(sample.labels) == labels):
                return float(sample.value)
    raise AssertionError(f"{name}{labels or ''} not on {path}: {body.decode()[:2000]}")
