"""No one in who does not belong: the real execution-engine with CURVE, an allowed strategy, intruders.

Three hosts (network namespaces): E runs the Rust execution-engine, its signal socket bound on E's address
with CURVE and an allow-list holding one strategy's key (``--curve-secret-key``/``--curve-allow``, key
files made by ``tradebridge keys generate``), and the mock broker on E's loopback; C runs that strategy
(keys from ``TRADEBRIDGE_CURVE_*``); X runs the intruders: one without any key, one with a key of its own.
All publish well-formed signals. Only the strategy's become orders at the broker; the engine's ``/metrics``
counts the refusals; a subscriber on X without the key receives none of the order updates the engine
publishes (also CURVE), while the strategy's subscriber on C receives them.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tradebridge.bus._security import write_certificates
from tradebridge.testing import rust_binary

from tests.scale.cluster import ROOT, Cluster, read, ready, wait_files
from tests.scale.netns import Fabric

SIGNAL_PORT, ORDER_PORT = 5556, 5557
BROKER, BROKER_HEALTH, ENGINE_HEALTH = 8090, 8091, 8081
LEGIT = 3  # signals the allowed strategy sends: each must become exactly one order


def _metric(text: str, name: str, source: str) -> int:
    found = re.search(rf'^{name}\{{source="{source}"\}} (\d+)', text, re.MULTILINE)
    return int(found.group(1)) if found else -1


@pytest.fixture
def hosts(netns_available: None) -> Iterator[Fabric]:
    # B unused: the Cluster helpers name the proxy host
    with Fabric(["B", "C", "E", "X"]) as fabric:
        yield fabric


def test_intruders_place_no_order_and_are_counted(hosts: Fabric, tmp_path: Path) -> None:
    fabric = hosts
    cluster = Cluster(fabric, tmp_path)
    keys, allowed = tmp_path / "keys", tmp_path / "allowed"
    _, engine_secret, engine_public = write_certificates(keys, "engine")
    strategy_public_file, strategy_secret_file, _ = write_certificates(keys, "strategy")
    _, intruder_secret_file, _ = write_certificates(keys, "intruder")
    allowed.mkdir()
    (allowed / "strategy.key").write_text(strategy_public_file.read_text())
    assert oct(strategy_secret_file.stat().st_mode & 0o777) == "0o600"

    e = fabric.address("E")
    signals, orders = f"tcp://{e}:{SIGNAL_PORT}", f"tcp://{e}:{ORDER_PORT}"
    mock = [
        sys.executable,
        "-m",
        "tradebridge.cli",
        "mock-broker",
        "--host",
        "127.0.0.1",
        "--port",
        str(BROKER),
    ]
    mock += ["--health-port", str(BROKER_HEALTH), "--symbols", "AAPL", "--rate-limit", "0"]
    fabric.service("E", "mock-broker", mock, cwd=ROOT, grace=2).start()
    cluster.wait(lambda: cluster.health("E", BROKER_HEALTH, "/ready").get("ready") is True, "mock broker")
    argv = [str(rust_binary("execution-engine")), "--signal-endpoint", signals, "--signal-bind"]
    argv += ["--order-endpoint", orders, "--broker-url", f"http://127.0.0.1:{BROKER}"]
    argv += ["--health-port", str(ENGINE_HEALTH), "--no-trade-stream", "--poll-interval-ms", "20"]
    argv += ["--curve-secret-key", str(engine_secret), "--curve-allow", str(allowed)]
    env = {**os.environ, "ALPACA_API_KEY": "mock-key", "ALPACA_SECRET_KEY": "mock-secret"}
    env = {k: v for k, v in env.items() if not k.startswith("TRADEBRIDGE_CURVE_")}
    engine = fabric.service("E", "execution-engine", argv, env=env, grace=3)
    engine.start()
    cluster.wait(lambda: cluster.health("E", ENGINE_HEALTH, "/ready").get("ready") is True, "engine ready")

    def actor(host: str, name: str, keys_env: dict[str, str], *args: str) -> tuple[object, Path]:
        report = tmp_path / f"{name}.json"
        argv = [sys.executable, "-m", "tests.security.curve_actor", *args, "--report", str(report)]
        service = fabric.service(host, name, argv, cwd=ROOT, env={**env, **keys_env}, grace=2)
        service.start()
        return service, report

    strategy_keys = {
        "TRADEBRIDGE_CURVE_SECRET_KEY": str(strategy_secret_file),  # a key file path
        "TRADEBRIDGE_CURVE_SERVER_KEY": engine_public,  # a Z85 key
    }
    listeners = [
        actor("C", "orders-allowed", strategy_keys, "listen", "--bus", orders, "--seconds", "12"),
        actor("X", "orders-plaintext", {}, "listen", "--bus", orders, "--seconds", "12"),
    ]
    wait_files([ready(r) for _, r in listeners], [s for s, _ in listeners])  # type: ignore[misc]
    intruder_keys = {
        "TRADEBRIDGE_CURVE_SECRET_KEY": str(intruder_secret_file),
        "TRADEBRIDGE_CURVE_SERVER_KEY": engine_public,
    }
    publishers = [
        actor(
            "X",
            "intruder-plaintext",
            {},
            "publish",
            "--to",
            signals,
            "--count",
            "10",
            "--source",
            "x-plain",
            "--wait",
            "3",
        ),
        actor(
            "X",
            "intruder-keyed",
            intruder_keys,
            "publish",
            "--to",
            signals,
            "--count",
            "10",
            "--source",
            "x-keyed",
            "--wait",
            "3",
        ),
        actor(
            "C",
            "strategy",
            strategy_keys,
            "publish",
            "--to",
            signals,
            "--count",
            str(LEGIT),
            "--source",
            "legit",
            "--pause",
            "1.2",
        ),
    ]
    services = [s for s, _ in publishers + listeners]
    wait_files([r for _, r in publishers + listeners], [*services, engine], timeout=60)  # type: ignore[list-item]

    plain, keyed, legit = (read(r) for _, r in publishers)
    scrape = (
        "import urllib.request;"
        f"print(urllib.request.urlopen('http://127.0.0.1:{ENGINE_HEALTH}/metrics',timeout=5).read().decode())"
    )
    metrics = fabric.run("E", [sys.executable, "-c", scrape])
    curve_lines = [line for line in metrics.splitlines() if "curve" in line and not line.startswith("#")]
    print(f"\nreports: legit {legit}, plaintext {plain}, keyed {keyed}; engine: {curve_lines}")
    assert legit["subscribers"] == 1 and legit["published"] == LEGIT
    assert plain["subscribers"] == 0 and keyed["subscribers"] == 0  # never even saw the engine's subscription
    assert plain["published"] == keyed["published"] == 10

    health = cluster.health("E", ENGINE_HEALTH)["metrics"]
    assert int(health["signals_received"]) == LEGIT, health
    code = (
        "import urllib.request\n"
        f"r=urllib.request.Request('http://127.0.0.1:{BROKER}/v2/orders?status=all&limit=500',"
        "headers={'APCA-API-KEY-ID':'mock-key','APCA-API-SECRET-KEY':'mock-secret'})\n"
        "print(urllib.request.urlopen(r,timeout=5).read().decode())"
    )
    placed: list[object] = []

    def all_placed() -> bool:
        placed[:] = json.loads(fabric.run("E", [sys.executable, "-c", code]))
        return len(placed) >= LEGIT

    try:
        cluster.wait(all_placed, f"{LEGIT} orders at the broker", timeout=15)
    except AssertionError:
        print(cluster.health("E", ENGINE_HEALTH)["metrics"])
        raise
    assert len(placed) == LEGIT, (placed, cluster.health("E", ENGINE_HEALTH)["metrics"])

    metrics = fabric.run("E", [sys.executable, "-c", scrape])
    denied = _metric(metrics, "tradebridge_curve_denied_total", "curve_signals")
    handshakes = _metric(metrics, "tradebridge_curve_handshake_failed_total", "curve_signals")
    allowed_count = _metric(metrics, "tradebridge_curve_allowed_total", "curve_signals")
    assert denied >= 1, metrics  # the keyed intruder: its key is not on the allow-list
    assert handshakes >= 1, metrics  # the plaintext intruder: refused at the handshake, every retry counted
    assert allowed_count == 1, metrics  # the strategy

    allowed_orders, plaintext_orders = (read(r) for _, r in listeners)
    assert allowed_orders["received"] >= LEGIT  # each order's updates (new, filled...) reach the strategy
    assert plaintext_orders["received"] == 0
    print(
        f"\nCURVE on the engine: {LEGIT} legit signals -> {len(placed)} orders; 20 intruder signals -> 0; "
        f"/metrics curve_signals denied={denied} handshake_failed={handshakes} allowed={allowed_count}; "
        f"order updates: allowed subscriber {allowed_orders['received']}, plaintext 0"
    )
