"""A bounded-concurrency HTTP load generator for the health endpoints (aiohttp client, keep-alive)."""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field

import aiohttp

PATHS = ("/health", "/ready", "/live", "/metrics")


@dataclass
class BurstResult:
    requests: int
    elapsed_s: float
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0


async def burst(base_url: str, requests: int = 10_000, concurrency: int = 50) -> BurstResult:
    """``requests`` GETs spread over the four endpoints by ``concurrency`` workers; every body is read."""
    statuses: collections.Counter[int] = collections.Counter()
    errors: list[str] = []
    counter = iter(range(requests))
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in counter:
            try:
                async with session.get(base_url + PATHS[i % len(PATHS)]) as reply:
                    await reply.read()
                    statuses[reply.status] += 1
            except (aiohttp.ClientError, TimeoutError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return BurstResult(requests, time.perf_counter() - started, statuses, errors)
