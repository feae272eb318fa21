"""``tradebridge conformance bus --publish-to EP --health URL`` against real subscribing services."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq
from tradebridge.bus.sync import ZMQSubscriber
from tradebridge.conformance.cli import main
from tradebridge.health import HealthCheck, HealthServer
from tradebridge.testing import free_port


@dataclass
class Service:
    endpoint: str
    health_url: str


def _serve(receive: object, stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            receive()  # type: ignore[operator]

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def counting_service() -> Iterator[Service]:
    """The SDK's subscriber, bound, its stats on /metrics: what the guide asks of a service."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    subscriber = ZMQSubscriber(endpoint, bind=True)
    subscriber.connect(["market", "signal"])
    health = HealthCheck.healthy("feed-target")
    health.track("bus", subscriber)
    server = HealthServer(health, port=0, host="127.0.0.1")
    server.start_in_thread()
    stop = threading.Event()
    thread = _serve(lambda: subscriber.receive_one(timeout=0.05), stop)
    yield Service(endpoint, server.url)
    stop.set()
    thread.join(timeout=5)
    subscriber.close()
    server.close()


@pytest.fixture
def silent_service() -> Iterator[Service]:
    """Reads every frame and drops the bad ones without counting them."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    socket = zmq.Context.instance().socket(zmq.SUB)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(endpoint)
    socket.setsockopt(zmq.SUBSCRIBE, b"market")
    server = HealthServer(HealthCheck.healthy("silent"), port=0, host="127.0.0.1")
    server.start_in_thread()
    stop = threading.Event()
    thread = _serve(lambda: socket.poll(50) and socket.recv(), stop)
    yield Service(endpoint, server.url)
    stop.set()
    thread.join(timeout=5)
    socket.close(0)
    server.close()


def test_a_service_that_counts_its_refusals_and_lives_is_conformant(
    counting_service: Service, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bus", "--publish-to", counting_service.endpoint, "--health", counting_service.health_url]
    report = tmp_path / "feed.json"
    assert main([*argv, "--duration", "5", "--json", str(report)]) == 0, capsys.readouterr().out
    body = json.loads(report.read_text())
    assert sorted(body["topics"]) == ["market", "signal"] and body["alive"]
    assert body["hostile_sent"] >= 50 and body["valid_sent"] >= 30
    assert body["refusals_counted"] == body["hostile_sent"]


def test_a_service_that_refuses_silently_fails(
    silent_service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["bus", "--publish-to", silent_service.endpoint, "--health", silent_service.health_url]
    assert main([*argv, "--duration", "1"]) == 1
    assert "hostile frames, /metrics counted 0 refusals" in capsys.readouterr().out


def test_publish_to_without_health_cannot_run() -> None:
    assert main(["bus", "--publish-to", f"tcp://127.0.0.1:{free_port()}"]) == 2
