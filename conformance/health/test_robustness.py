"""A burst of 10,000 requests against each server, in its own process next to a simulated main loop
ticking every millisecond: no error, every answer 200, and the loop keeps ticking. How much the loop
slows down is measured (and recorded in the conformance report); ``benches/health`` compares it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance.health.conftest import ProbeProcess
from conformance.health.loadgen import burst

BURST = 10_000


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["rust", "python-thread", "python-loop"])
async def test_burst_of_10k_requests(variant: str, conformance_report: Any) -> None:
    implementation, _, mode = variant.partition("-")
    extra = ["--thread"] if mode == "thread" else []
    probe = ProbeProcess(implementation, "market-data", "--tick-ms", "1", *extra)
    try:
        time.sleep(0.3)
        probe.command("lag reset")
        time.sleep(1.0)
        idle = probe.tick_lag()
        probe.command("lag reset")
        result = await burst(probe.url, BURST, concurrency=50)
        loaded = probe.tick_lag()
        # still healthy and serving after the burst
        assert probe.command("status healthy") == "ok"
    finally:
        probe.close()
    conformance_report.record(
        "health.burst",
        variant,
        {
            "requests": result.requests,
            "rate_per_s": round(result.rate),
            "statuses": dict(result.statuses),
            "errors": len(result.errors),
            "tick_lag_idle_us": idle,
            "tick_lag_burst_us": loaded,
        },
    )
    assert result.errors == [], result.errors[:5]
    assert result.statuses == {200: BURST}
    # The loop kept ticking through the burst: at least a tick per 100 ms of burst, generous on purpose
    # (2 shared cores; a server sharing the loop can only be fair, not free).
    assert loaded["ticks"] >= result.elapsed_s * 1000 / 100, (loaded, result.elapsed_s)
    assert idle["ticks"] > 0
