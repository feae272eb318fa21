"""``tradebridge conformance latency`` against a real service on real sockets: it answers every signal
with an order update carrying its ``signal_id``, after a delay the test chooses."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq
from tradebridge.conformance.cli import main
from tradebridge.contracts import OrderUpdate, Signal, decode_frame, encode_frame
from tradebridge.testing import free_port

Endpoints = tuple[str, str]


def _answering_service(delay_s: float, answer: bool = True) -> Callable[[], Iterator[Endpoints]]:
    def fixture() -> Iterator[Endpoints]:
        signals, orders = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
        context = zmq.Context.instance()
        inbox, outbox = context.socket(zmq.SUB), context.socket(zmq.PUB)
        for socket in (inbox, outbox):
            socket.setsockopt(zmq.LINGER, 0)
        inbox.setsockopt(zmq.SUBSCRIBE, b"signal")
        inbox.bind(signals)
        outbox.bind(orders)
        stop = threading.Event()

        def serve() -> None:
            seq = 0
            while not stop.is_set():
                if not inbox.poll(20):
                    continue
                _, signal = decode_frame(inbox.recv())
                assert isinstance(signal, Signal)
                time.sleep(delay_s)
                if answer:
                    update = OrderUpdate(
                        order_id="o",
                        client_order_id=f"tb-{signal.signal_id}",
                        symbol=signal.symbol,
                        side="buy",
                        qty=1.0,
                        filled_qty=0.0,
                        filled_avg_price=None,
                        status="new",
                        timestamp=signal.timestamp,
                        signal_id=signal.signal_id,
                        seq=seq,
                        source="echo",
                    )
                    outbox.send(encode_frame(update))
                    seq += 1

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        time.sleep(0.2)  # the kit's SUB must be connected before the first answer; the XPUB waits for ours
        yield signals, orders
        stop.set()
        thread.join(timeout=5)
        inbox.close(0)
        outbox.close(0)

    return fixture


fast_service = pytest.fixture(_answering_service(0.0))
slow_service = pytest.fixture(_answering_service(0.03))
mute_service = pytest.fixture(_answering_service(0.0, answer=False))


def latency(endpoints: Endpoints, budget_ms: float, *extra: str) -> int:
    signals, orders = endpoints
    return main(
        [
            "latency",
            "--publish-to",
            signals,
            "--subscribe",
            orders,
            "--budget-p99",
            str(budget_ms),
            "--count",
            "50",
            "--rate",
            "200",
            *extra,
        ]
    )


def test_a_service_within_its_budget_passes(fast_service: Endpoints, tmp_path: Path) -> None:
    report = tmp_path / "latency.json"
    assert latency(fast_service, 1000, "--json", str(report)) == 0
    body = json.loads(report.read_text())
    assert body["answered"] == body["sent"] == 50
    assert (
        set(body["percentiles_ms"]) == {"p50", "p99", "p99.9", "max"}
        and sum(body["histogram_ms"].values()) == 50
    )


def test_a_service_over_its_budget_fails(slow_service: Endpoints, tmp_path: Path) -> None:
    # the service sleeps 30 ms per signal, so p99 is at least that: a 5 ms budget cannot hold
    report = tmp_path / "latency.json"
    assert latency(slow_service, 5, "--json", str(report), "--timeout", "3") == 1
    assert json.loads(report.read_text())["percentiles_ms"]["p99"] >= 30


def test_a_service_that_never_answers_fails(
    mute_service: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    assert latency(mute_service, 1000, "--timeout", "0.5") == 1
    assert "0/50 answered" in capsys.readouterr().out
