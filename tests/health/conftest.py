"""Fixtures for the health SDK tests: a started server on a free loopback port and a raw HTTP helper."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from tradebridge.health import HealthCheck, HealthServer


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(port: int, data: bytes, timeout: float = 5.0) -> RawReply:
    """Send ``data`` as is and read until the server closes (status 0 when it closed without answering)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received = bytearray()

    async def read_all() -> None:
        # Reads while we still write: a server that answers 4xx and closes before reading a huge
        # request resets the connection, and a reset discards whatever was not read yet.
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                received.extend(chunk)

    reading = asyncio.create_task(read_all())
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        await asyncio.wait_for(reading, timeout)
    finally:
        reading.cancel()
        writer.close()
    raw = bytes(received)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return RawReply(status, headers, body)


async def request(port: int, method: str, path: str) -> RawReply:
    return await raw_request(
        port, f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    )


@pytest.fixture
def health() -> HealthCheck:
    return HealthCheck.healthy("market-data")


@pytest.fixture
async def server(health: HealthCheck) -> AsyncIterator[HealthServer]:
    server = HealthServer(health, port=0, host="127.0.0.1")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
