"""The soak (docs/soak.md): its arithmetic on known histograms, then the real flow for ``SOAK_SECONDS``
(60 by default; ``make soak`` runs the runner for 10 minutes)."""

from __future__ import annotations

import json
import math
import os

import pytest

from tests.soak.analysis import (
    Series,
    Windows,
    cpu_table,
    parse_histograms,
    summary_table,
    verdict,
    window_quantile,
)
from tests.soak.runner import ROOT, SoakConfig, default_growth_from, render, run_soak, write_report

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))

PAGE = """\
# HELP tradebridge_latency_seconds Latency of a processing stage.
# TYPE tradebridge_latency_seconds histogram
tradebridge_latency_seconds_bucket{stage="features",le="0.001"} 90
tradebridge_latency_seconds_bucket{stage="features",le="0.002"} 99
tradebridge_latency_seconds_bucket{stage="features",le="0.004"} 100
tradebridge_latency_seconds_bucket{stage="features",le="+Inf"} 100
tradebridge_latency_seconds_sum{stage="features"} 0.1
tradebridge_latency_seconds_count{stage="features"} 100
# HELP tradebridge_uptime_seconds Seconds since the service started.
# TYPE tradebridge_uptime_seconds gauge
tradebridge_uptime_seconds 3
"""


def test_histograms_are_read_per_series_and_gauges_ignored() -> None:
    histograms = parse_histograms(PAGE)
    assert list(histograms) == ["tradebridge_latency_seconds{stage=features}"]
    assert histograms["tradebridge_latency_seconds{stage=features}"] == {
        0.001: 90,
        0.002: 99,
        0.004: 100,
        math.inf: 100,
    }


def test_p99_comes_from_the_window_delta_not_the_lifetime_totals() -> None:
    before = {0.001: 90.0, 0.002: 99.0, 0.004: 100.0, math.inf: 100.0}
    # 100 new observations, all in (0.002, 0.004]: the lifetime p99 would sit near 2-4 ms as well, but
    # the window's p99 is interpolated inside that bucket alone.
    after = {0.001: 90.0, 0.002: 99.0, 0.004: 200.0, math.inf: 200.0}
    p99, count = window_quantile(before, after)
    assert count == 100
    assert p99 == pytest.approx(0.002 + 0.002 * 0.99)
    assert window_quantile(after, after) == (None, 0)
    # a restarted process (counters went down) counts from zero
    assert window_quantile(after, before)[1] == 100
    # beyond the last finite bound: that bound, as Prometheus' histogram_quantile
    assert window_quantile(None, {0.001: 0.0, math.inf: 5.0}) == (0.001, 5)


def _steady(rss: float, fds: float, p99: float, seconds: int = 60) -> Series:
    s = Series()
    for t in range(seconds + 1):
        s.rss.append((float(t), rss))
        s.fds.append((float(t), fds))
        s.p99.setdefault("latency{stage=x}", []).append((float(t), p99, 50))
    return s


def test_verdict_passes_a_flat_run_and_fails_growth_and_drift() -> None:
    windows = Windows.for_run(60.0, 20.0)
    assert (windows.baseline, windows.final) == ((20.0, 40.0), (40.0, 60.0))
    assert all(f.ok for f in verdict({"flat": _steady(100e6, 20, 0.005)}, windows, 60.0))

    leaky = _steady(100e6, 20, 0.005)
    leaky.rss = [(t, 100e6 * (1 + t / 100)) for t, _ in leaky.rss]  # +40% from 20 s to 60 s
    leaky.fds = [(t, 20 + t) for t, _ in leaky.fds]
    drifting = _steady(100e6, 20, 0.005)
    drifting.p99["latency{stage=x}"] = [
        (t, 0.010 if t < 40 else 0.025, 50) for t, _, _ in drifting.p99["latency{stage=x}"]
    ]
    failed = {(f.check, f.subject) for f in verdict({"a": leaky, "b": drifting}, windows, 60.0) if not f.ok}
    assert failed == {("rss", "a"), ("fds", "a"), ("p99", "b/latency{stage=x}")}
    assert "FAIL" in summary_table(verdict({"b": drifting}, windows, 60.0))


def test_small_moves_are_not_leaks() -> None:
    windows = Windows.for_run(60.0, 20.0)
    s = _steady(100e6, 10, 0.002)
    s.fds = [
        (t, 10 + (2 if t > 50 else 0)) for t, _ in s.fds
    ]  # two more sockets: within the slack; a p99 of a few ms quadrupling: noise
    s.p99["latency{stage=x}"] = [(t, 0.002 if t < 40 else 0.008, 50) for t, _, _ in s.p99["latency{stage=x}"]]
    assert all(f.ok for f in verdict({"svc": s}, windows, 60.0))


def test_descriptors_churning_in_a_band_are_not_a_leak_but_a_rising_floor_is() -> None:
    """A connection pool opens and closes sockets all the time: the count moves in a band (here 40 to 50,
    more above the floor late in the run) and only its floor says whether descriptors leak."""
    windows = Windows.for_run(60.0, 20.0)
    churn = _steady(100e6, 40, 0.002)
    churn.fds = [(t, 40 + (t * 7 % 11 if t < 40 else (10 if int(t) % 5 else 0))) for t, _ in churn.fds]
    assert all(f.ok for f in verdict({"pool": churn}, windows, 60.0))
    leak = _steady(100e6, 40, 0.002)
    leak.fds = [(t, 40 + (t * 7 % 11) + (8 if t > 50 else 0)) for t, _ in leak.fds]
    failed = [f for f in verdict({"leak": leak}, windows, 60.0) if not f.ok]
    assert [(f.check, f.start, f.end) for f in failed] == [("fds", 41, 48)], failed


def test_cpu_is_reported_per_window_not_judged() -> None:
    """A process that works harder every minute (the mock broker once scanned every order it ever took on
    each bar) shows in the CPU table beside the p99 it slows down."""
    windows = Windows.for_run(60.0, 20.0)
    busier = _steady(100e6, 10, 0.002)
    busier.cpu = [(t + 0.5, 0.2 if t < 40 else 0.6) for t in range(60)]  # no sample on a window edge
    idle = _steady(100e6, 10, 0.002)
    table = cpu_table({"broker": busier, "idle": idle}, windows)
    assert table.splitlines()[0].split()[1:5] == ["broker", "0.20", "->", "0.60"]
    assert table.splitlines()[1].split()[1:5] == ["idle", "-", "->", "-"]
    assert all(f.ok for f in verdict({"broker": busier}, windows, 60.0))


def test_growth_mark_defaults() -> None:
    assert default_growth_from(600) == 60
    assert default_growth_from(60) == 20


@pytest.mark.timeout(SOAK_SECONDS + 120)
def test_soak_flow_holds_steady() -> None:
    """The demo's four processes at 1,000 bars/s over 20 symbols for SOAK_SECONDS: no RSS or fd growth
    past 10% from a third of the run (20 s of 60) to the end, no hop whose p99 doubles."""
    config = SoakConfig(
        seconds=SOAK_SECONDS,
        growth_from=default_growth_from(SOAK_SECONDS),
        report_dir=ROOT / "reports" / "soak" / f"test-{SOAK_SECONDS:g}s",
    )
    result = run_soak(config)
    files = write_report(result)
    table = render(result)
    print(table)
    assert result.ok, table
    assert result.elapsed >= SOAK_SECONDS - 1.5
    # the rate held (a publisher that fell behind would make a quiet, trivially steady run)
    assert result.bars_published >= 0.9 * config.rate * result.elapsed, table
    # every process sampled every second, every hop of the flow measured
    for name, s in result.series.items():
        assert len(s.rss) >= SOAK_SECONDS - 2, name
    hops = {f"{name}/{hop}" for name, s in result.series.items() for hop in s.p99}
    assert {
        "strategy/bus_transit{source=market}",
        "strategy/latency{stage=features}",
        "execution-engine/latency{stage=signal_to_ack}",
    } <= hops, hops
    for name, s in result.series.items():
        assert len(s.cpu) >= SOAK_SECONDS - 3 and all(v >= 0 for _, v in s.cpu), name
    report = json.loads(files[0].read_text())
    assert report["ok"] is True and files[1].stat().st_size > 10_000
