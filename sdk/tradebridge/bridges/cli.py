"""``tradebridge bridge nats``: bus topics into NATS JetStream (``in``) and back onto the bus (``out``).

    tradebridge bridge nats in  --bus tcp://127.0.0.1:5556 --nats nats://127.0.0.1:4222 [--topics market]
    tradebridge bridge nats out --bus tcp://127.0.0.1:5560 --nats nats://127.0.0.1:4222 [--from-seq N]

``in`` connects a subscriber to ``--bus`` (a publisher or the proxy's backend); ``out`` binds ``--bus`` for
subscribers (or connects to the proxy's frontend with ``--connect``). Both stop on SIGINT/SIGTERM; ``in``
waits for JetStream to acknowledge everything it took, then prints its counts as JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import signal
import sys
from collections.abc import Sequence

from tradebridge.bridges.errors import BridgeError
from tradebridge.bridges.jetstream import BusToJetStream, JetStreamConfig
from tradebridge.bridges.replay import JetStreamToBus
from tradebridge.contracts import TOPICS

__all__ = ["main"]

SUMMARY = "Bridge bus topics into NATS JetStream and back out (replay from a sequence or a time, then live)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradebridge bridge", description=SUMMARY)
    engines = parser.add_subparsers(dest="engine", required=True)
    nats = engines.add_parser("nats", help="NATS JetStream")
    directions = nats.add_subparsers(dest="direction", required=True)
    for name, help_text in (("in", "bus -> JetStream"), ("out", "JetStream -> bus")):
        sub = directions.add_parser(name, help=help_text)
        sub.add_argument("--bus", required=True, help="bus endpoint, e.g. tcp://127.0.0.1:5556")
        sub.add_argument(
            "--nats", action="append", required=True, help="NATS URL; repeat for each node of a cluster"
        )
        sub.add_argument("--topics", default=",".join(TOPICS), help="comma-separated topics (default: all)")
        sub.add_argument("--stream-prefix", default="TRADEBRIDGE")
        sub.add_argument("--subject-prefix", default="tradebridge")
        sub.add_argument("--replicas", type=int, default=1, help="stream replicas (in only)")
        sub.add_argument("--duplicate-window", type=float, default=120.0, help="seconds (in only)")
        sub.add_argument("--bind", action="store_true", help="in: bind the bus socket instead of connecting")
        sub.add_argument("--connect", action="store_true", help="out: connect the bus socket (to a proxy)")
        sub.add_argument("--from-seq", type=int, help="out: replay from this stream sequence")
        sub.add_argument("--since", help="out: replay from this RFC 3339 time (e.g. 2026-01-02T09:30:00Z)")
    return parser


def _since(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BridgeError("invalid_option", f"--since {text!r} is not an RFC 3339 time") from None


async def _run(args: argparse.Namespace) -> int:
    config = JetStreamConfig(
        servers=tuple(args.nats),
        topics=tuple(t for t in args.topics.split(",") if t),
        stream_prefix=args.stream_prefix,
        subject_prefix=args.subject_prefix,
        replicas=args.replicas,
        duplicate_window=args.duplicate_window,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if args.direction == "in":
        bridge = BusToJetStream(args.bus, config, bind=args.bind)
        ready = asyncio.create_task(bridge.ready.wait())
        ready.add_done_callback(lambda _: print("bridge nats in ready", file=sys.stderr, flush=True))
        stats = await bridge.run(stop)
        print(json.dumps(stats.as_dict()), flush=True)
        return 0
    out = JetStreamToBus(
        args.bus, config, bind=not args.connect, start_seq=args.from_seq, start_time=_since(args.since)
    )
    ready = asyncio.create_task(out.ready.wait())
    ready.add_done_callback(lambda _: print("bridge nats out ready", file=sys.stderr, flush=True))
    sent = await out.run(stop)
    print(json.dumps({"sent": sent}), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Bridge bus topics into NATS JetStream and back out (replay from a sequence or a time, then live)."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except BridgeError as exc:
        print(f"tradebridge bridge: {exc}", file=sys.stderr)
        return 2
