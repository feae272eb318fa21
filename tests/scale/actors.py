"""The processes of the multi-host tests, one per role, each run in its own network namespace:

    python -m tests.scale.actors feed     --to EP --count K --rate R --report PATH
    python -m tests.scale.actors strategy --bus EP --to EP --count K --report PATH [--hwm H]
    python -m tests.scale.actors sink     --bus EP --sources N --count K --report PATH

``feed`` publishes K bars (seq 0..K-1) to the proxy's frontend; a ``strategy`` takes bars from the backend
and answers each with a signal; the ``sink`` (host E) takes the signals. Each writes a JSON report of what it
saw (every (source, seq) in arrival order, the SDK's loss counters) when it has seen all it expects or has
heard nothing for ``--idle`` seconds. Only SDK publishers and subscribers, connected, as users would write
them."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tradebridge.bus import BusOptions
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import BarUpdate, Signal


def _write(path: str, report: dict[str, Any]) -> None:
    tmp = Path(path + ".tmp")
    tmp.write_text(json.dumps(report))
    tmp.replace(path)  # the test reads only complete reports


def feed(args: argparse.Namespace) -> None:
    pause = 1.0 / args.rate
    with ZMQPublisher(args.to, bind=False, source=args.source) as publisher:
        start = time.monotonic()
        for i in range(args.count):
            publisher.publish(
                BarUpdate(symbol="AAPL", open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0, timestamp=i)
            )
            # paced against the clock, so a stall (proxy restart) is not made up by a burst
            delay = start + (i + 1) * pause - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if args.final_after:
            # a loss at the tail shows only when a later message arrives: one more, once the test says
            deadline = time.monotonic() + 30
            while not Path(args.final_after).exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            publisher.publish(
                BarUpdate(
                    symbol="AAPL", open=1.0, high=1.0, low=1.0, close=1.0, volume=1.0, timestamp=args.count
                )
            )
        _write(args.report, {"published": publisher.published, "stats": publisher.stats.as_dict()})
        time.sleep(0.5)


def _stop_on_term() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


def strategy(args: argparse.Namespace) -> None:
    options = BusOptions(receive_hwm=args.hwm)
    seen: list[list[Any]] = []
    with (
        ZMQSubscriber(args.bus, options=options) as bars,
        ZMQPublisher(args.to, bind=False, source=args.source) as signals,
    ):
        bars.connect(["market"])
        signals.connect()
        Path(args.report + ".ready").touch()
        last_heard = time.monotonic()
        while time.monotonic() - last_heard < args.idle:
            received = bars.receive_one(timeout=0.1)
            if received is None:
                continue
            last_heard = time.monotonic()
            bar = received[1]
            seen.append([bar.source, bar.seq])
            signals.publish(
                Signal(symbol=bar.symbol, direction="long", strength=0.5, timestamp=bar.timestamp)
            )
            if bar.seq == args.count - 1:
                break
        _write(args.report, {"seen": seen, "stats": bars.stats.as_dict(), "signals": signals.published})
        time.sleep(0.5)  # linger: the last signals leave before the socket closes


def sink(args: argparse.Namespace) -> None:
    seen: list[list[Any]] = []
    done: set[str] = set()
    with ZMQSubscriber(args.bus) as signals:
        signals.connect(["signal"])
        Path(args.report + ".ready").touch()
        last_heard = time.monotonic()
        while time.monotonic() - last_heard < args.idle and len(done) < args.sources:
            received = signals.receive_one(timeout=0.1)
            if received is None:
                continue
            last_heard = time.monotonic()
            message = received[1]
            seen.append([message.source, message.seq])
            if message.seq == args.count - 1:
                done.add(message.source)
        _write(args.report, {"seen": seen, "stats": signals.stats.as_dict()})


def main() -> None:
    _stop_on_term()
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["feed", "strategy", "sink"])
    parser.add_argument("--bus")
    parser.add_argument("--to")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--sources", type=int, default=1)
    parser.add_argument("--source")
    parser.add_argument("--hwm", type=int, default=100_000)
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--report", required=True)
    parser.add_argument("--final-after", help="feed: after --count bars, one more once this file exists")
    args = parser.parse_args()
    {"feed": feed, "strategy": strategy, "sink": sink}[args.role](args)


if __name__ == "__main__":
    main()
