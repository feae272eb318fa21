"""``tradebridge conformance latency`` against a real service on real sockets: it answers every signal
with an order update carrying its ``signal_id``, after a delay the test chooses."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq
from hdrh.histogram import HdrHistogram
from tradebridge.conformance.cli import main
from tradebridge.contracts import OrderUpdate, Signal, decode_frame, encode_frame
from tradebridge.testing import free_port

Endpoints = tuple[str, str]


def _answering_service(delay_s: float, answer: bool = True) -> Callable[[], Iterator[Endpoints]]:
    def fixture() -> Iterator[Endpoints]:
        signals, orders = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
        context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
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
    report, page, junit = tmp_path / "latency.json", tmp_path / "latency.html", tmp_path / "latency.xml"
    assert latency(fast_service, 1000, "--json", str(report), "--html", str(page), "--junit", str(junit)) == 0
    body = json.loads(report.read_text())
    assert body["answered"] == body["sent"] == 50 and body["warmup_sent"] >= 1
    assert set(body["percentiles_ms"]) == {"p50", "p90", "p99", "p99.9", "max"}
    assert sum(body["histogram_ms"].values()) == 50 and body["problems"] == []
    # the HDR histogram travels in the report: anyone can decode it and get the same figures
    decoded = HdrHistogram.decode(body["hdr"]["encoded"])
    assert decoded.get_total_count() == 50
    assert decoded.get_value_at_percentile(99) / 1000 == body["percentiles_ms"]["p99"]
    html = page.read_text()
    assert "<svg" in html and html.count("<rect") == len(body["histogram_ms"]) and "budget 1000 ms" in html
    assert "Latency: within budget" in html and "matplotlib" not in html


def test_a_service_over_its_budget_fails(slow_service: Endpoints, tmp_path: Path) -> None:
    # the service sleeps 30 ms per signal, so p99 is at least that: a 5 ms budget cannot hold
    report = tmp_path / "latency.json"
    assert latency(slow_service, 5, "--json", str(report), "--timeout", "3") == 1
    body = json.loads(report.read_text())
    assert body["percentiles_ms"]["p99"] >= 30 and body["problems"][0].startswith("p99 ")


def test_a_service_that_never_answers_fails(
    mute_service: Endpoints, capsys: pytest.CaptureFixture[str]
) -> None:
    assert latency(mute_service, 1000, "--timeout", "0.5") == 1
    assert "0/50 answered" in capsys.readouterr().out


def test_without_the_kit_extra_the_error_names_it(
    fast_service: Endpoints, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # what an SDK installed without [kit] sees: the HDR histogram library cannot be imported
    monkeypatch.setitem(sys.modules, "hdrh.histogram", None)
    assert latency(fast_service, 1000) == 2
    assert "needs hdrhistogram, from the kit extra: pip install 'tradebridge[kit]'" in capsys.readouterr().err
