"""Both servers' ``/metrics`` pages parse as Prometheus text and carry the same families, types, labels
and values for the same state, so one dashboard serves Python and Rust services alike."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conformance.health.conftest import ProbeProcess

COMMANDS = (
    "count processed 1234",
    "count malformed 3",
    "count gaps 2",
    "latency decode 0.00003",
    "latency decode 0.2",
    "latency publish 3.5",
    "track market received=10,malformed=1,gaps=2,dropped=5",
    "status degraded feed lagging",
    "ready false warming up",
)


@pytest.fixture(scope="module")
def pages() -> Iterator[dict[str, str]]:
    probes = {impl: ProbeProcess(impl, "parity") for impl in ("python", "rust")}
    try:
        for probe in probes.values():
            for command in COMMANDS:
                assert probe.command(command) == "ok"
        texts = {}
        for impl, probe in probes.items():
            with urllib.request.urlopen(probe.url + "/metrics", timeout=5) as reply:
                assert reply.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
                texts[impl] = reply.read().decode()
        yield texts
    finally:
        for probe in probes.values():
            probe.close()


def _families(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = dict(sample.labels)
            if "le" in labels:  # 2.5e-05 vs 0.000025: the same bound written two ways
                labels["le"] = repr(float(labels["le"]))
            out[(sample.name, tuple(sorted(labels.items())))] = sample.value
    return out


def test_same_families_and_types(pages: dict[str, str]) -> None:
    python, rust = _families(pages["python"]), _families(pages["rust"])
    assert python == rust
    for name, kind in {
        "tradebridge_uptime_seconds": "gauge",
        "tradebridge_messages_processed": "counter",
        "tradebridge_malformed_messages": "counter",
        "tradebridge_sequence_gaps": "counter",
        "tradebridge_received": "counter",
        "tradebridge_dropped": "counter",
        "tradebridge_latency_seconds": "histogram",
        "tradebridge_health_status": "gauge",
        "tradebridge_ready": "gauge",
    }.items():
        assert python[name] == kind, name


def test_same_samples_and_values(pages: dict[str, str]) -> None:
    python, rust = _samples(pages["python"]), _samples(pages["rust"])
    uptime = ("tradebridge_uptime_seconds", ())
    assert python.pop(uptime) >= 0 and rust.pop(uptime) >= 0
    # sums are accumulated differently (float seconds vs integer nanoseconds): equal up to rounding
    assert python == pytest.approx(rust, rel=1e-9)
    assert python[("tradebridge_messages_processed_total", ())] == 1234
    assert python[("tradebridge_dropped_total", (("source", "market"),))] == 5
    assert python[("tradebridge_latency_seconds_count", (("stage", "decode"),))] == 2
    assert python[("tradebridge_latency_seconds_bucket", (("le", "inf"), ("stage", "publish")))] == 1
    assert python[("tradebridge_latency_seconds_bucket", (("le", "2.5"), ("stage", "publish")))] == 0
    assert python[("tradebridge_health_status", (("status", "degraded"),))] == 1
    assert python[("tradebridge_ready", ())] == 0
