"""``make soak``: the demo's flow (mock broker, mock publisher, example strategy, Rust execution engine)
held at a steady bar rate for a while, sampling every process once a second: RSS, open file descriptors,
and the p99 of every latency histogram its ``/metrics`` exposes over that second. Fails on growth or drift
(see :mod:`tests.soak.analysis` and docs/soak.md); writes ``soak.json`` and ``soak.png``.

    python -m tests.soak.runner --seconds 600 --rate 1000 --symbols 20
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tradebridge.testing import Service, ServiceError, free_port, is_ready, rust_binary

from tests.soak.analysis import (
    Buckets,
    Finding,
    Series,
    Windows,
    cpu_table,
    parse_histograms,
    summary_table,
    verdict,
)
from tests.soak.analysis import window_quantile as p99_of

ROOT = Path(__file__).resolve().parents[2]
STRATEGY = ROOT / "examples" / "strategy.py"
#: Credential variables never passed to services talking to the local mock broker.
CREDENTIAL_VARIABLES = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "ALPACA_API_KEY", "ALPACA_SECRET_KEY")
# fmt: off
SYMBOLS = (
    "AAPL", "MSFT", "GOOGL", "AMZN", "META", "NVDA", "TSLA", "JPM", "V", "UNH",
    "XOM", "JNJ", "WMT", "PG", "MA", "HD", "CVX", "KO", "PEP", "COST",
)
# fmt: on
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class SoakConfig:
    seconds: float = 600.0
    rate: float = 1000.0
    symbols: int = 20
    growth_from: float = 60.0  # end of minute 1
    seed: int = 7
    report_dir: Path = field(default_factory=lambda: ROOT / "reports" / "soak")


@dataclass
class SoakResult:
    config: SoakConfig
    windows: Windows
    series: dict[str, Series]
    findings: list[Finding]
    bars_published: int
    elapsed: float  # seconds from the first sample to the last
    counters: dict[str, dict[str, str]]  # each service's /health metrics at the end

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)


def _services(config: SoakConfig, work: Path) -> list[Service]:
    """The demo's direct topology (demo/tradebridge_demo/run.py), publishing until stopped."""
    host = "127.0.0.1"
    ports = {n: free_port() for n in ("broker", "market", "signal", "order", "bh", "eh", "sh", "ph")}
    market, signals, orders = (f"tcp://{host}:{ports[n]}" for n in ("market", "signal", "order"))
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    keyed = {**env, "ALPACA_API_KEY": "tradebridge-soak", "ALPACA_SECRET_KEY": "tradebridge-soak"}
    symbols = list(SYMBOLS[: config.symbols])
    cli = [sys.executable, "-m", "tradebridge.cli"]
    logs = config.report_dir / "logs"
    broker = Service(
        "mock-broker",
        [
            *cli, "mock-broker", "--host", host, "--port", str(ports["broker"]), "--seed", str(config.seed),
            "--symbols", *symbols, "--health-port", str(ports["bh"]), "--market-endpoint", market,
            "--bar-interval", "0", "--fill-mode", "deferred", "--rate-limit", "0",
            # a bounded bar history (20 s at the soak's rate): the soak measures steady state, not retention
            "--max-history", "1000",
        ],
        health_port=ports["bh"], log_dir=logs, env=env,
    )  # fmt: skip
    engine = Service(
        "execution-engine",
        [
            str(rust_binary("execution-engine")), "--signal-endpoint", signals, "--order-endpoint", orders,
            "--market-endpoint", market, "--broker-url", f"http://{host}:{ports['broker']}",
            "--health-port", str(ports["eh"]), "--max-position", "30", "--max-notional", "20000",
            "--max-orders-per-sec", "5", "--poll-interval-ms", "20", "--no-trade-stream",
            "--order-timeout-ms", "2000", "--journal", str(work / "engine.journal"),
            # a bounded idempotency window (well under a minute of this flow's orders, two seconds of its
            # signals), as the broker's history above: the soak measures steady state, not a day's retention
            "--idempotency-max-ids", "100",
        ],
        health_port=ports["eh"], log_dir=logs, env=keyed,
    )  # fmt: skip
    strategy = Service(
        "strategy",
        [
            sys.executable, str(STRATEGY), "--market-endpoint", market, "--signal-endpoint", signals,
            "--order-endpoint", orders, "--symbols", ",".join(symbols), "--threshold", "0.5",
            "--health-port", str(ports["sh"]), "--run-id", "soak", "--subscribers", "1",
        ],
        health_port=ports["sh"], log_dir=logs, env=env,
    )  # fmt: skip
    publisher = Service(
        "mock-publisher",
        [
            *cli, "mock-publisher", "--endpoint", market, "--symbols", ",".join(symbols),
            "--rate", f"{config.rate:g}", "--count", "0", "--seed", str(config.seed),
            "--wait-for-subscribers", "3", "--health-port", str(ports["ph"]),
        ],
        health_port=ports["ph"], log_dir=logs, env=env,
    )  # fmt: skip
    return [broker, engine, strategy, publisher]


@contextlib.contextmanager
def _running(services: Sequence[Service]) -> Iterator[None]:
    """Start in the demo's order and wait as it does; stop everything in reverse, whatever happens."""
    broker, engine, strategy, publisher = services
    try:
        broker.start()
        broker.wait(is_ready, "ready", 30)
        engine.start()
        engine.wait(is_ready, "ready", 30)
        strategy.start()
        strategy.wait(lambda s: s.metrics().get("bus_connected") == "true", "connected", 30)
        engine.wait(lambda s: int(s.metrics().get("order_subscribers", "0")) >= 1, "subscribed to", 10)
        publisher.start()
        yield
    finally:
        for service in reversed(services):
            service.stop()


def _proc(pid: int) -> tuple[float, float, float]:
    """(RSS in bytes, open descriptors, CPU seconds used so far) of one process, from /proc."""
    rss = 0.0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = float(line.split()[1]) * 1024
                break
    with open(f"/proc/{pid}/stat") as stat:
        # utime and stime, fields 14 and 15, counted after the command name (which may hold spaces)
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return rss, float(len(os.listdir(f"/proc/{pid}/fd"))), cpu


def _metrics_page(service: Service) -> str:
    with urllib.request.urlopen(f"{service.health_url}/metrics", timeout=1.0) as response:
        text: str = response.read().decode()
    return text


def _bars_published(counters: dict[str, str]) -> int:
    """The publisher's count of messages sent (its tracked bus stats, ``bus_published``); -1 if absent."""
    for key, value in sorted(counters.items()):
        if key.endswith("published"):
            with contextlib.suppress(ValueError):
                return int(float(value))
    return -1


def _hop(key: str) -> str:
    """``tradebridge_latency_seconds{stage=features}`` -> ``latency{stage=features}``."""
    return key.removeprefix("tradebridge_").replace("_seconds", "", 1)


def default_growth_from(seconds: float) -> float:
    """The end of minute 1, or a third of a run shorter than three minutes (20 s of a 60-s run), so the
    growth check always has the warm-up behind it and a stretch of steady running ahead."""
    return 60.0 if seconds >= 180 else seconds / 3


def run_soak(config: SoakConfig) -> SoakResult:
    """Run the flow for ``config.seconds`` of sampling; a :class:`ServiceError` if a process dies."""
    config.report_dir.mkdir(parents=True, exist_ok=True)
    series: dict[str, Series] = {}
    counters: dict[str, dict[str, str]] = {}
    end = 0.0
    with tempfile.TemporaryDirectory(prefix="tradebridge-soak-") as tmp:
        services = _services(config, Path(tmp))
        with _running(services):
            previous: dict[str, dict[str, Buckets]] = {}
            used: dict[str, tuple[float, float]] = {}  # process -> (sampled at, CPU seconds then)
            series = {s.name: Series() for s in services}
            started = time.monotonic()
            tick = 0
            while (elapsed := time.monotonic() - started) < config.seconds:
                tick += 1
                for service in services:
                    if not service.running:
                        raise service.died()
                    assert service.pid is not None
                    rss, fds, cpu = _proc(service.pid)
                    s = series[service.name]
                    s.rss.append((elapsed, rss))
                    s.fds.append((elapsed, fds))
                    if service.name in used:
                        at, before = used[service.name]
                        s.cpu.append((elapsed, (cpu - before) / max(elapsed - at, 1e-3)))
                    used[service.name] = (elapsed, cpu)
                    try:
                        histograms = parse_histograms(_metrics_page(service))
                    except OSError:
                        continue  # a scrape that timed out leaves a gap, not a failure
                    before = previous.get(service.name)
                    if before is not None:
                        for key, buckets in histograms.items():
                            p99, count = p99_of(before.get(key), buckets)
                            s.p99.setdefault(_hop(key), []).append((elapsed, p99, count))
                    previous[service.name] = histograms
                end = elapsed
                time.sleep(max(0.0, started + tick - time.monotonic()))
            counters = {service.name: service.metrics() for service in services}
    windows = Windows.for_run(end, config.growth_from)
    findings = verdict(series, windows, end)
    published = _bars_published(counters["mock-publisher"])
    return SoakResult(config, windows, series, findings, published, end, counters)


def write_report(result: SoakResult) -> list[Path]:
    """``soak.json`` (every sample and finding) and ``soak.png`` (RSS, fds and p99 per process)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on CI
    import matplotlib.pyplot as plt

    out = result.config.report_dir
    data = {
        "ok": result.ok,
        "config": {**asdict(result.config), "report_dir": str(result.config.report_dir)},
        "windows": asdict(result.windows),
        "elapsed_s": result.elapsed,
        "bars_published": result.bars_published,
        "findings": [asdict(f) for f in result.findings],
        "counters": result.counters,
        "series": {name: asdict(s) for name, s in result.series.items()},
    }
    json_path = out / "soak.json"
    json_path.write_text(json.dumps(data, indent=1))

    fig, (ax_rss, ax_fd, ax_cpu, ax_p99) = plt.subplots(4, 1, figsize=(11, 14), sharex=True)
    for name, s in result.series.items():
        ax_rss.plot([t for t, _ in s.rss], [v / 1e6 for _, v in s.rss], label=name)
        ax_fd.plot([t for t, _ in s.fds], [v for _, v in s.fds], label=name)
        ax_cpu.plot([t for t, _ in s.cpu], [v for _, v in s.cpu], label=name, lw=0.8)
        for hop, points in sorted(s.p99.items()):
            kept = [(t, v * 1e3) for t, v, _ in points if v is not None]
            if kept:
                ax_p99.plot([t for t, _ in kept], [v for _, v in kept], label=f"{name}/{hop}", lw=0.8)
    for ax in (ax_rss, ax_fd, ax_cpu, ax_p99):
        ax.axvline(result.windows.growth_from, color="grey", ls="--", lw=0.8)
        ax.grid(alpha=0.3)
    ax_p99.axvspan(*result.windows.baseline, color="green", alpha=0.08, label="p99 baseline")
    ax_p99.axvspan(*result.windows.final, color="red", alpha=0.08, label="p99 final")
    ax_rss.set_ylabel("RSS (MB)")
    ax_fd.set_ylabel("open fds")
    ax_cpu.set_ylabel("CPU (cores)")
    ax_p99.set_ylabel("p99 per 1-s window (ms)")
    ax_p99.set_yscale("log")
    ax_p99.set_xlabel("seconds")
    ax_rss.legend(fontsize=7, loc="upper left")
    ax_p99.legend(fontsize=6, loc="upper left", ncol=2)
    verdict_text = "PASS" if result.ok else "FAIL"
    fig.suptitle(
        f"soak {verdict_text}: {result.config.rate:g} bars/s x {result.config.symbols} symbols, "
        f"{result.elapsed:.0f} s"
    )
    fig.tight_layout()
    png_path = out / "soak.png"
    fig.savefig(png_path, dpi=90)
    plt.close(fig)
    return [json_path, png_path]


def render(result: SoakResult) -> str:
    w = result.windows
    head = (
        f"soak: {result.elapsed:.0f} s at {result.config.rate:g} bars/s x {result.config.symbols} symbols, "
        f"{result.bars_published} bars published ({result.bars_published / max(result.elapsed, 1):,.0f}/s); "
        f"growth from {w.growth_from:g} s to the end, "
        f"p99 {w.baseline[0]:.0f}-{w.baseline[1]:.0f} s vs {w.final[0]:.0f}-{w.final[1]:.0f} s"
    )
    table = f"{summary_table(result.findings)}\n{cpu_table(result.series, w)}"
    return f"{head}\n{table}\nsoak: {'PASS' if result.ok else 'FAIL'}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=1000.0, help="bars per second in total")
    parser.add_argument("--symbols", type=int, default=20, choices=range(1, len(SYMBOLS) + 1))
    parser.add_argument(
        "--growth-from",
        type=float,
        default=None,
        help="RSS/fd mark, seconds (default: 60, a third of short runs)",
    )
    parser.add_argument("--report-dir", type=Path, default=ROOT / "reports" / "soak")
    args = parser.parse_args(argv)
    if args.growth_from is None:
        args.growth_from = default_growth_from(args.seconds)
    if not 0 < args.growth_from < args.seconds:
        parser.error("--growth-from must be inside the run")
    config = SoakConfig(args.seconds, args.rate, args.symbols, args.growth_from, report_dir=args.report_dir)
    try:
        result = run_soak(config)
    except ServiceError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 1
    print(render(result), flush=True)
    files = write_report(result)
    print("soak: report " + ", ".join(str(f) for f in files), flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
