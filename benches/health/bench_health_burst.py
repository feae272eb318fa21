"""What a burst of 10,000 health requests costs a service's main loop.

Each server runs in its own process next to a simulated main loop ticking every 1 ms: the Rust
``health-probe-server``, and ``python -m conformance.testees.python.health_probe`` with ``HealthServer``
(``python-native``: served from Rust threads in the extension module) or with the former aiohttp server
(``python-aiohttp-thread``: its own thread and loop; ``python-aiohttp-loop``: the service's loop), the
baseline the native server replaced. Each row's baseline is the same loop with no requests; the table
prints tick lateness (how late a 1 ms tick fires) idle vs. under the burst, and the ratio; the target is
a p99 ratio of at most 2x for a Python service (issue 13). The load generator
(``conformance.health.loadgen``: aiohttp, keep-alive, 50 concurrent) runs in this process.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from benches.health.conftest import BURSTS
from conformance.health.conftest import ProbeProcess
from conformance.health.loadgen import burst

BURST = 10_000
VARIANTS = ("rust", "python-native", "python-aiohttp-thread", "python-aiohttp-loop")


def _measure(variant: str) -> dict[str, Any]:
    implementation, _, mode = variant.partition("-")
    extra = ["--thread"] if mode.endswith("thread") else []
    extra += ["--aiohttp"] if mode.startswith("aiohttp") else []
    probe = ProbeProcess(implementation, "bench", "--tick-ms", "1", *extra)
    try:
        time.sleep(0.3)
        probe.command("lag reset")
        time.sleep(2.0)
        idle = probe.tick_lag()
        probe.command("lag reset")
        result = asyncio.run(burst(probe.url, BURST, concurrency=50))
        loaded = probe.tick_lag()
    finally:
        probe.close()
    assert result.errors == [] and result.statuses == {200: BURST}
    return {"idle": idle, "burst": loaded, "rate": result.rate, "elapsed_s": result.elapsed_s}


@pytest.mark.parametrize("variant", VARIANTS)
def test_main_loop_tick_lag_under_burst(benchmark: Any, variant: str) -> None:
    row = benchmark.pedantic(_measure, args=(variant,), rounds=1, iterations=1)
    benchmark.extra_info.update(
        {
            "requests_per_s": round(row["rate"]),
            **{f"idle_{k}": round(v, 1) for k, v in row["idle"].items()},
            **{f"burst_{k}": round(v, 1) for k, v in row["burst"].items()},
        }
    )
    BURSTS[variant] = row
