"""`tradebridge demo` end to end: four real processes, then the numbers are checked against each other."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tradebridge.testing import Service, free_port, rust_binary

pytestmark = pytest.mark.slow  # real runs of the whole flow: about a minute in all

DEMO = [sys.executable, "-m", "tradebridge.cli", "demo"]


def run_demo(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    rust_binary("execution-engine")  # a missing binary fails here, with the command that builds it
    return subprocess.run([*DEMO, "--quiet", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    report = tmp_path_factory.mktemp("demo")
    # the paced, production-like flow (deferred fills heard on the trade stream, every hop timed); the
    # deterministic default is tests/replay_determinism's
    done = run_demo(
        "--bars", "120", "--symbols", "AAPL", "MSFT", "--seed", "11", "--report", str(report),
        "--no-deterministic",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads((report / "report.json").read_text())
    assert (report / "equity.png").stat().st_size > 1000
    assert (report / "latency.png").stat().st_size > 1000
    return done, data


def test_the_demo_completes_and_prints_the_summary(
    demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    done, data = demo_run
    summary = data["summary"]
    assert summary["bars"] == 240
    assert summary["signals"] > 0 and summary["orders"] > 0 and summary["fills"] > 0
    for line in ("bars", "signals", "orders", "fills", "risk refusals", "P&L", "p50", "p99"):
        assert line in done.stdout
    assert "[FAIL]" not in done.stdout and done.stdout.count("[ok]") == 3
    assert summary["equity_end"] == pytest.approx(summary["equity_start"] + summary["pnl"], abs=0.01)


def test_every_fill_matches_an_order_of_a_signal(
    demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, data = demo_run
    signals = {s["signal_id"]: s for s in data["signals"]}
    fills = [o for o in data["orders"] if o["filled_qty"] > 0]
    assert fills
    for order in fills:
        signal_id = order["client_order_id"].removeprefix("tb-")
        assert signal_id in signals, order
        seen = signals[signal_id]
        assert seen["order_id"] == order["id"]
        assert seen["filled_qty"] == order["filled_qty"]
        assert seen["filled_avg_price"] == pytest.approx(order["filled_avg_price"])
        assert seen["direction"] == ("long" if order["side"] == "buy" else "short")


def test_broker_positions_equal_the_fills(
    demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, data = demo_run
    net: dict[str, float] = {}
    for order in data["orders"]:
        sign = 1 if order["side"] == "buy" else -1
        net[order["symbol"]] = net.get(order["symbol"], 0.0) + sign * order["filled_qty"]
    held = {s: q for s, q in data["summary"]["positions"].items() if q}
    assert {s: q for s, q in net.items() if q} == held


def test_no_signal_lost_without_a_counted_reason(
    demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, data = demo_run
    engine = {k: int(float(v)) for k, v in data["engine_metrics"].items() if v.replace(".", "").isdigit()}
    signals = data["signals"]
    assert engine["signals_received"] == len(signals) == data["summary"]["signals"]
    assert engine["signals_received"] == engine["orders_submitted"] + engine["refused_total"]
    refused = [s for s in signals if s["status"] == "rejected"]
    assert len(refused) == engine["refused_total"]
    assert all(s["reason"] and s["reason"].split(":")[0] in ("risk", "broker") for s in refused)
    reasons: dict[str, int] = {}
    for s in refused:
        key = s["reason"].split(":")[1]
        reasons[key] = reasons.get(key, 0) + 1
    assert reasons == data["summary"]["risk_refusals"]
    assert all(s["status"] in ("filled", "rejected", "canceled", "expired") for s in signals)
    assert engine["orders_open"] == 0


def test_latency_of_each_hop_is_reported(
    demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    _, data = demo_run
    latency = data["summary"]["latency"]
    assert latency["features"]["count"] == 240  # the strategy's own histogram, read from its /metrics
    assert latency["signal_to_engine"]["count"] == data["summary"]["signals"]  # measured by the engine
    for hop in ("features", "signal_to_engine", "signal_to_ack", "ack_to_fill", "published_to_fill"):
        assert latency[hop]["count"] > 0
        assert 0 < latency[hop]["p50_ms"] <= latency[hop]["p99_ms"]


@pytest.fixture(scope="module")
def synthetic_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``--market synthetic``: the mock publisher's bars, whose send times are in their envelopes."""
    report = tmp_path_factory.mktemp("synthetic")
    done = run_demo(
        "--market",
        "synthetic",
        "--bars",
        "120",
        "--symbols",
        "AAPL",
        "MSFT",
        "--seed",
        "11",
        "--report",
        str(report),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done, json.loads((report / "report.json").read_text())


def test_the_first_hop_starts_when_the_publisher_sent_the_bar(
    synthetic_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    done, data = synthetic_run
    latency = data["summary"]["latency"]
    hops = list(latency)
    assert (hops[0], hops[-1]) == ("published_to_signal", "published_to_fill")
    # every signal names its bar by (source, seq), and the observer saw every such bar's sent_at_us
    assert data["signals"] and all(s["bar_source"] and s["bar_seq"] is not None for s in data["signals"])
    assert latency["published_to_signal"]["count"] == data["summary"]["signals"]
    first = data["latency_ms"]["published_to_signal"]
    # same host clock, both envelope stamps: the signal is sent after its bar, and loopback is fast (slack
    # for a loaded 2-core machine)
    assert min(first) >= -0.5 and 0 < latency["published_to_signal"]["p50_ms"] < 50
    # the total runs from the bar's send time to the fill seen on the bus, signal by signal
    filled = [s["hops_ms"] for s in data["signals"] if "ack_to_fill" in s["hops_ms"]]
    assert latency["published_to_fill"]["count"] == latency["ack_to_fill"]["count"] == len(filled) > 0
    for hops in filled:
        parts = hops["published_to_signal"] + hops["signal_to_ack"] + hops["ack_to_fill"]
        assert hops["published_to_fill"] == pytest.approx(parts, abs=1e-3)
    assert "upstream event -> signal seen (bus)" in done.stdout
    assert "upstream event -> fill seen (total)" in done.stdout


def test_the_default_run_streams_bars_in_and_hears_fills_on_the_trade_stream(
    demo_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    done, data = demo_run
    assert data["config"]["market"] == "stream" and "market-data       streaming" in done.stderr
    # the first hop starts when the bar was seen on the bus (after market-data), for every signal
    first = data["summary"]["latency"]["published_to_signal"]
    assert first["count"] == data["summary"]["signals"] and first["p50_ms"] > 0
    engine = data["engine_metrics"]
    fills = data["summary"]["fills"]
    # every fill heard on the trade stream; no order polled but for the (5 s) safety poll
    assert int(engine["updates_from_stream"]) >= fills > 0, engine
    assert engine["order_polls"] == engine["safety_polls"] and engine["poll_fallback"] == "0", engine
    fill_seen = data["summary"]["latency"]["fill_seen"]
    assert fill_seen["count"] == fills and fill_seen["p50_ms"] is not None


def test_the_synthetic_market_keeps_the_publisher_and_the_poll(
    synthetic_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    done, data = synthetic_run
    assert data["summary"]["bars"] == 240 and "mock-publisher    publishing" in done.stderr
    assert done.stdout.count("[ok]") == 3
    engine = data["engine_metrics"]
    assert engine["stream_connects"] == "0" and engine["updates_from_stream"] == "0", engine


def test_a_taken_port_is_named_and_fails_the_run(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_demo("--bars", "40", "--broker-port", str(port), "--report", str(tmp_path), timeout=60)
    assert done.returncode == 1
    assert "mock-broker exited" in done.stderr
    assert str(port) in done.stderr


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def started_its_four_services(demo: Service) -> bool:
    assert demo.pid is not None
    # broker, engine, strategy, and market-data (or the publisher), and the bars are on their way
    started = (
        "market-data       streaming" in demo.output() or "mock-publisher    publishing" in demo.output()
    )
    return started and len(_children(demo.pid)) >= 4


def test_ctrl_c_stops_every_process_and_frees_the_ports(tmp_path: Path) -> None:
    rust_binary("execution-engine")
    broker_port, market_port = free_port(), free_port()
    demo = Service(
        "demo",
        [*DEMO, "--quiet", "--bars", "5000", "--rate", "50", "--report", str(tmp_path),
         "--broker-port", str(broker_port), "--market-port", str(market_port)],
        ready=started_its_four_services, ready_timeout=40,
    )  # fmt: skip
    with demo:
        children = _children(demo.pid)
        time.sleep(0.5)
        demo.send_signal(signal.SIGINT)
        demo.wait_exit(30)
    err = demo.output()
    assert demo.returncode() == 130, err
    assert "interrupted" in err
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    for port in (broker_port, market_port):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))  # raises if anything still holds it


def _clean_env(**extra: str) -> dict[str, str]:
    names = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "ALPACA_API_KEY", "ALPACA_SECRET_KEY")
    return {**{k: v for k, v in os.environ.items() if k not in names}, **extra}


def test_an_external_broker_with_credentials_from_a_dotenv_file(tmp_path: Path) -> None:
    """The Alpaca-paper path (``--broker-url`` + ``.env``), against a broker the test runs on loopback that
    already holds a position: the checks count only this run's orders, against the change in positions."""
    from tradebridge.alpaca import AlpacaPaperTrading
    from tradebridge_mocks.broker import MockBroker

    rust_binary("execution-engine")
    key, secret = "PKDOTENVKEY", "dotenv-secret-5b2e"
    env_file = tmp_path / "credentials.env"
    env_file.write_text(f"ALPACA_API_KEY={key}\nALPACA_SECRET_KEY={secret}\n")
    with MockBroker(seed=11, api_key=key, secret_key=secret) as broker:
        AlpacaPaperTrading(key, secret, base_url=broker.url).place_order("AAPL", 7, "buy")
        done = subprocess.run(
            [*DEMO, "--quiet", "--bars", "100", "--symbols", "AAPL", "--report", str(tmp_path / "r"),
             "--broker-url", broker.url, "--env-file", str(env_file)],
            capture_output=True, text=True, timeout=90, env=_clean_env(),
        )  # fmt: skip
        held = {
            p.symbol: float(p.qty)
            for p in AlpacaPaperTrading(key, secret, base_url=broker.url).get_positions()
        }
    assert done.returncode == 0, done.stdout + done.stderr
    assert secret not in done.stdout + done.stderr
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert all(c["ok"] for c in data["checks"])
    assert all(o["client_order_id"].startswith("tb-") for o in data["orders"])  # the manual order is not ours
    ours = sum((1 if o["side"] == "buy" else -1) * o["filled_qty"] for o in data["orders"])
    assert held.get("AAPL", 0.0) == 7 + ours
    for log in (tmp_path / "r" / "logs").iterdir():
        assert secret not in log.read_text(errors="replace"), log.name


def test_an_external_broker_without_credentials_names_the_variables(tmp_path: Path) -> None:
    done = subprocess.run(
        [*DEMO, "--quiet", "--broker-url", "https://paper-api.alpaca.markets", "--env-file",
         str(tmp_path / "missing.env"), "--report", str(tmp_path)],
        capture_output=True, text=True, timeout=30, env=_clean_env(),
    )  # fmt: skip
    assert done.returncode == 1
    assert "ALPACA_API_KEY" in done.stderr and "ALPACA_SECRET_KEY" in done.stderr


def test_a_live_broker_url_is_refused_by_the_engine(tmp_path: Path) -> None:
    env = _clean_env(ALPACA_API_KEY="PKLIVEKEY", ALPACA_SECRET_KEY="live-secret-77")
    done = subprocess.run(
        [*DEMO, "--quiet", "--broker-url", "https://api.alpaca.markets", "--report", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert "execution-engine exited" in done.stderr and "paper trading only" in done.stderr
    assert "live-secret-77" not in done.stderr + done.stdout


def test_a_service_dying_mid_run_is_named_and_everything_else_stops(tmp_path: Path) -> None:
    rust_binary("execution-engine")
    demo = Service(
        "demo",
        [*DEMO, "--quiet", "--bars", "5000", "--rate", "50", "--report", str(tmp_path)],
        ready=started_its_four_services, ready_timeout=40,
    )  # fmt: skip
    with demo:
        children = _children(demo.pid)
        engine = next(p for p in children if "execution-engine" in Path(f"/proc/{p}/cmdline").read_text())
        os.kill(engine, signal.SIGKILL)
        demo.wait_exit(30)
    err = demo.output()
    assert demo.returncode() == 1
    assert "execution-engine exited with code -9" in err
    for pid in children:
        assert not Path(f"/proc/{pid}").exists()
