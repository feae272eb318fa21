"""A bus peer of the CURVE tests, run as its own process (in a network namespace for the intruder test):

    python -m tests.security.curve_actor publish --to EP --count K --source S --report PATH
    python -m tests.security.curve_actor listen  --bus EP --seconds T --report PATH

Its keys come from the environment (``TRADEBRIDGE_CURVE_*``, read by ``Curve.from_env`` as a service
would): none makes it a plaintext peer. ``publish`` connects and sends K well-formed signals (alternating
long and short, so the engine's position limits never refuse one); ``listen`` connects and counts the
order updates it receives. Each writes a JSON report.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tradebridge.bus import Curve, SubscriberTimeoutError
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import Signal


def publish(args: argparse.Namespace) -> dict[str, object]:
    curve = Curve.from_env()
    with ZMQPublisher(args.to, bind=False, source=args.source, curve=curve) as publisher:
        try:
            subscribers = publisher.wait_for_subscribers(1, timeout=args.wait)
        except SubscriberTimeoutError:
            subscribers = 0  # refused: it publishes all the same, as an attacker would
        base = time.time_ns() // 1_000_000
        for i in range(args.count):
            signal = Signal(symbol="AAPL", direction="long", strength=0.9, timestamp=base + i)
            if i % 2:
                signal = Signal(symbol="AAPL", direction="short", strength=0.9, timestamp=base + i)
            publisher.publish_signal(signal)
            time.sleep(args.pause)
        return {
            "secured": curve is not None,
            "subscribers": subscribers,
            "published": publisher.published,
            "curve": publisher.curve_stats.__repr__(),
        }


def listen(args: argparse.Namespace) -> dict[str, object]:
    curve = Curve.from_env()
    with ZMQSubscriber(args.bus, curve=curve) as subscriber:
        subscriber.connect(["order"])
        Path(args.report + ".ready").touch()
        received = 0
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            if subscriber.receive_one(timeout=0.1) is not None:
                received += 1
        return {"secured": curve is not None, "received": received, "denied": subscriber.curve_stats.denied}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["publish", "listen"])
    parser.add_argument("--to")
    parser.add_argument("--bus")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--source", default="actor")
    parser.add_argument("--wait", type=float, default=5.0)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--report", required=True)
    args = parser.parse_args()
    report = publish(args) if args.role == "publish" else listen(args)
    tmp = Path(args.report + ".tmp")
    tmp.write_text(json.dumps(report))
    tmp.replace(args.report)


if __name__ == "__main__":
    main()
