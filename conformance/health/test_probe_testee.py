"""The stdin-driven Python probe server: its command language, and the real process end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from tradebridge.health import HealthCheck

from conformance.testees.python.health_probe import TickLag, apply

_CHECKOUT = Path(__file__).resolve().parents[2]


def test_commands_change_the_check() -> None:
    health, lag = HealthCheck.healthy("probe"), TickLag()
    assert apply("status degraded feed lagging", health, lag) == "ok"
    assert (health.status, health.message) == ("degraded", "feed lagging")
    apply("status healthy", health, lag)
    assert health.message == "All systems operational"
    apply("ready false warming up", health, lag)
    assert health.ready_reason == "warming up"
    apply("ready true", health, lag)
    apply("metric ws true", health, lag)
    apply("count processed 5", health, lag)
    apply("latency decode 0.002", health, lag)
    apply("track sub received=3,gaps=1", health, lag)
    metrics = health.health_body()["metrics"]
    assert metrics["ws"] == "true"
    assert metrics["messages_processed"] == "5"
    assert (metrics["sub_received"], metrics["sub_gaps"]) == ("3", "1")
    assert health.telemetry.latency("decode").count == 1
    lag.lags_us.extend([100.0, 300.0, 200.0])
    summary = json.loads(apply("lag", health, lag))
    assert (summary["ticks"], summary["p50_us"], summary["max_us"]) == (3, 200.0, 300.0)
    apply("lag reset", health, lag)
    assert lag.summary()["ticks"] == 0


@pytest.mark.parametrize(
    "command", ["status sick", "count nothing 1", "count gaps x", "latency decode soon", "bogus", "track s k"]
)
def test_bad_commands_are_refused(command: str) -> None:
    with pytest.raises((ValueError, IndexError)):
        apply(command, HealthCheck.healthy("probe"), TickLag())


def test_probe_process_serves_and_exits_cleanly() -> None:
    process = subprocess.Popen(  # cwd: the testee runs as a module of the checkout's conformance package
        [
            sys.executable,
            "-m",
            "conformance.testees.python.health_probe",
            "--component",
            "probe",
            "--tick-ms",
            "1",
        ],
        stdin=subprocess.PIPE,
        cwd=_CHECKOUT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        first = process.stdout.readline()
        assert first.startswith("listening 127.0.0.1:")
        url = "http://" + first.split()[1]
        process.stdin.write("bogus\nmetric a 1\n")
        process.stdin.flush()
        assert process.stdout.readline().startswith("error")
        assert process.stdout.readline().strip() == "ok"
        with urllib.request.urlopen(url + "/health", timeout=5) as reply:
            assert json.loads(reply.read())["metrics"]["a"] == "1"
        process.stdin.write("quit\n")
        process.stdin.flush()
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stdin.close()
