"""The kit's first subject: our own ``execution-engine`` on the mock broker, judged through the CLI exactly
as a user's service would be (``latency`` for signal -> order update, ``bus --publish-to`` for refusals)."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tradebridge.conformance.cli import main
from tradebridge.testing import Service, free_port, rust_binary
from tradebridge_mocks.broker import MockBroker

KEY, SECRET = "PKKITENGINE000000001", "kit-engine-secret-never-logged-7d1"


@dataclass
class Engine:
    service: Service
    signals: str
    orders: str
    health_url: str


@pytest.fixture
def engine() -> Iterator[Engine]:
    signal_port, order_port, health_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    env.update(ALPACA_API_KEY=KEY, ALPACA_SECRET_KEY=SECRET)
    with MockBroker(seed=14) as broker:
        broker.set_price("AAPL", 100.0)
        # limits that never decide: the kit measures the engine's path, not its risk checks
        argv = [
            rust_binary("execution-engine"),
            "--signal-endpoint", f"tcp://127.0.0.1:{signal_port}",
            "--order-endpoint", f"tcp://127.0.0.1:{order_port}",
            "--broker-url", broker.url, "--health-port", str(health_port),
            "--max-position", "1000000", "--max-notional", "1e12", "--max-orders-per-sec", "100000",
            "--max-signal-age-ms", "3600000",
        ]  # fmt: skip
        with Service("execution-engine", argv, health_port=health_port, env=env) as service:
            yield Engine(service, f"tcp://127.0.0.1:{signal_port}", f"tcp://127.0.0.1:{order_port}",
                         f"http://127.0.0.1:{health_port}")  # fmt: skip
            log = service.output()
    assert SECRET not in log


def test_latency_of_our_engine_on_the_mock_broker(engine: Engine, tmp_path: Path) -> None:
    report, page, junit = tmp_path / "latency.json", tmp_path / "latency.html", tmp_path / "latency.xml"
    # the engine connects to its signal endpoint, so the kit binds it (--bind)
    argv = ["latency", "--publish-to", engine.signals, "--bind", "--subscribe", engine.orders,
            "--budget-p99", "250", "--count", "60", "--rate", "50", "--timeout", "10",
            "--json", str(report), "--html", str(page), "--junit", str(junit)]  # fmt: skip
    code = main(argv)
    body = json.loads(report.read_text())
    print(f"engine on the mock broker: {body['percentiles_ms']} ({body['answered']}/{body['sent']})")
    # the verdict's structure, not its timing: every signal answered by an order update with its id
    assert body["answered"] == body["sent"] == 60 and body["warmup_sent"] >= 1
    assert set(body["percentiles_ms"]) == {"p50", "p90", "p99", "p99.9", "max"}
    assert sum(body["histogram_ms"].values()) == 60
    assert code == (0 if body["conformant"] else 1) and body["conformant"] == (body["problems"] == [])
    cases = {case.get("name"): case for case in ET.parse(junit).getroot()}
    assert set(cases) == {"p99 within 250 ms", "every signal answered"}
    assert cases["every signal answered"].find("failure") is None
    assert "<svg" in page.read_text()
    # an impossible budget (1 µs for a round trip through an HTTP broker) must fail, and say why
    impossible = [*argv[: argv.index("--budget-p99") + 1], "0.001", "--count", "10", "--json", str(report)]
    assert main(impossible) == 1
    assert json.loads(report.read_text())["problems"][0].startswith("p99 ")


def test_our_engine_counts_every_hostile_frame_and_keeps_running(engine: Engine, tmp_path: Path) -> None:
    report = tmp_path / "feed.json"
    argv = ["bus", "--publish-to", engine.signals, "--bind", "--health", engine.health_url,
            "--duration", "10", "--json", str(report)]  # fmt: skip
    code = main(argv)
    body = json.loads(report.read_text())
    print(f"engine fed {body['valid_sent']} valid + {body['hostile_sent']} hostile frames, "
          f"{body['refusals_counted']:g} refusals counted")  # fmt: skip
    assert code == 0, body
    assert body["topics"] == ["signal"] and body["alive"]
    assert body["hostile_sent"] >= 20 and body["valid_sent"] >= 5
    assert body["refusals_counted"] == body["hostile_sent"]
    assert engine.service.running
