"""``tradebridge conformance bus --subscribe`` on the Rust ``market-data`` service, fed by the mock broker's
real WebSocket stream: its own output passes; the same stream with one frame dropped, or one frame cut in
half, fails by name (a relay between the service and the judge does the damage)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq
from tradebridge.conformance.cli import main
from tradebridge.testing import Service, free_port, rust_binary
from tradebridge_mocks.broker import MockBroker, StreamOptions

SYMBOLS = ("AAPL", "MSFT")
KEY, SECRET = "PKKITMARKETDATA00001", "kit-market-data-secret-never-logged"
#: which forwarded frame the relay damages: well after the judge's first one, well before its last
DAMAGED = 10


@pytest.fixture
def market_data() -> Iterator[str]:
    """The service's bus endpoint, trades and quotes flowing (the stream ticks every 50 ms)."""
    health_port, endpoint = free_port(), f"tcp://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    env.update(ALPACA_API_KEY=KEY, ALPACA_SECRET_KEY=SECRET)
    with MockBroker(seed=14, symbols=SYMBOLS, streams=StreamOptions(interval=0.05)) as broker:
        broker.advance(2)
        argv = [
            rust_binary("market-data"),
            "--stream-url", broker.ws_url + "/v2/iex",
            "--endpoint", endpoint,
            "--symbols", ",".join(SYMBOLS),
            "--channels", "bars,trades,quotes",
            "--health-port", str(health_port),
        ]  # fmt: skip
        with Service("market-data", argv, health_port=health_port, env=env) as service:
            yield endpoint
            log = service.output()
    assert SECRET not in log


class Relay:
    """Forwards the service's frames to the judge, damaging the ``DAMAGED``-th: ``drop`` it (a seq gap) or
    ``cut`` it in half (a malformed frame). It forwards nothing before the judge subscribes, so the judge
    sees the frames on both sides of the damage."""

    def __init__(self, upstream: str, damage: str) -> None:
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.inbox, self.outbox = context.socket(zmq.SUB), context.socket(zmq.XPUB)
        for socket in (self.inbox, self.outbox):
            socket.setsockopt(zmq.LINGER, 0)
        self.outbox.bind(self.endpoint)
        self.inbox.setsockopt(zmq.SUBSCRIBE, b"market")
        self.inbox.connect(upstream)
        self.damage = damage
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set() and not self.outbox.poll(20):
            pass  # the judge's subscription
        forwarded = 0
        while not self.stop.is_set():
            if not self.inbox.poll(20):
                continue
            frame = self.inbox.recv()
            forwarded += 1
            if forwarded == DAMAGED and self.damage == "drop":
                continue
            if forwarded == DAMAGED and self.damage == "cut":
                frame = frame[: len(frame) // 2]
            self.outbox.send(frame)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.inbox.close(0)
        self.outbox.close(0)


def judge(endpoint: str, report: Path) -> tuple[int, dict[str, Any]]:
    code = main(["bus", "--subscribe", endpoint, "--topics", "market", "--duration", "20",
                 "--max-messages", "40", "--json", str(report)])  # fmt: skip
    return code, json.loads(report.read_text())


def test_the_market_data_service_is_conformant(market_data: str, tmp_path: Path) -> None:
    code, body = judge(market_data, tmp_path / "bus.json")
    assert code == 0, body
    assert body["messages"] == 40 and body["problems"] == {}
    assert all(stream.endswith("/market") for stream in body["streams"])


# a cut frame is refused, so the next one's seq is a gap too: both are the judge's to name
@pytest.mark.parametrize(
    ("damage", "problems"), [("drop", {"seq_gap": 1}), ("cut", {"invalid_json": 1, "seq_gap": 1})]
)
def test_its_stream_with_one_frame_damaged_fails_by_name(
    market_data: str,
    damage: str,
    problems: dict[str, int],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    relay = Relay(market_data, damage)
    try:
        code, body = judge(relay.endpoint, tmp_path / "bus.json")
    finally:
        relay.close()
    assert code == 1
    assert body["problems"] == problems, body
    out = capsys.readouterr().out
    assert all(problem.upper() in out for problem in problems)
