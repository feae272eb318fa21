"""``tradebridge record`` and ``tradebridge replay``: the command lines over :class:`Recorder` and
:class:`Replayer`.

    tradebridge record --endpoint tcp://127.0.0.1:5555 --out captures/today --topics market --duration 3600
    tradebridge replay captures/today --endpoint tcp://127.0.0.1:5556 --wait-for-subscribers 1 --speed 10

Exit status: 0 done (or stopped by SIGINT/SIGTERM), 1 a failure while running (cannot bind or connect, a
write that failed, a corrupt capture: the message names the file and row group), 2 bad options or input.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from tradebridge.bus.sync import SubscriberTimeoutError
from tradebridge.capture.errors import CaptureError
from tradebridge.capture.record import Recorder
from tradebridge.capture.replay import Replayer

__all__ = ["main", "record_main", "replay_main"]

#: codes that mean the input or options were wrong (exit 2), not that something failed while running
_INPUT_CODES = frozenset({"invalid_option", "not_found", "empty", "wrong_schema", "unsupported_version"})


def _csv(text: str | None) -> list[str] | None:
    return [part.strip() for part in text.split(",") if part.strip()] if text else None


def _moment(text: str) -> int:
    """Unix nanoseconds from an RFC 3339 / ISO 8601 time (UTC unless it says otherwise) or Unix seconds."""
    try:
        return round(float(text) * 1e9)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an ISO 8601 time (2026-12-02T09:30:00Z) nor Unix seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1000


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def _health(component: str, port: int, stats: Callable[[], dict[str, int]]) -> Iterator[None]:
    """``/health`` and ``/ready`` on loopback with the command's counters, when ``--health-port`` is set."""
    if not port:
        yield
        return
    from tradebridge.health import HealthCheck, HealthServer

    server = HealthServer(HealthCheck.healthy(component).track(component, stats), port, host="127.0.0.1")
    server.start_in_thread()
    try:
        yield
    finally:
        server.close()


def _fail(prog: str, exc: CaptureError) -> int:
    print(f"{prog}: {exc}", file=sys.stderr)
    return 2 if exc.code in _INPUT_CODES else 1


def record_main(argv: Sequence[str] | None = None) -> int:
    """Record what a bus publisher sends into a Parquet capture (a file or a folder of segments)."""
    parser = argparse.ArgumentParser(
        prog="tradebridge record",
        description="Record what a bus publisher sends into a Parquet capture (a file or a segment folder).",
    )
    parser.add_argument(
        "--endpoint",
        required=True,
        action="append",
        help="a publisher to connect to (tcp://HOST:PORT); repeat it (or separate by commas) to record "
        "several publishers into one capture",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="FILE.parquet (one file, readable once recording ends) or a folder of rotating segments",
    )
    parser.add_argument("--topics", default=None, help="comma-separated topics (default: every topic)")
    parser.add_argument("--count", type=int, default=None, help="stop after N frames")
    parser.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    parser.add_argument("--segment-rows", type=int, default=1_000_000, help="rotate segments every N frames")
    parser.add_argument("--segment-seconds", type=float, default=60.0, help="rotate segments every S seconds")
    parser.add_argument("--row-group-rows", type=int, default=16_384, help="frames per Parquet row group")
    parser.add_argument("--health-port", type=int, default=0, help="serve /health and /ready; 0 = none")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        endpoints = [address for text in args.endpoint for address in _csv(text) or ()]
        recorder = Recorder(
            endpoints,
            args.out,
            topics=_csv(args.topics),
            count=args.count,
            duration=args.duration,
            segment_rows=args.segment_rows,
            segment_seconds=args.segment_seconds,
            row_group_rows=args.row_group_rows,
        )
        with _stop_on_signals(recorder.stop), _health("record", args.health_port, recorder.stats):
            print(f"record: recording {recorder.endpoint} into {args.out}", file=sys.stderr, flush=True)
            result = recorder.run()
    except CaptureError as exc:
        return _fail("record", exc)
    except OSError as exc:  # the health port is taken
        print(f"record: {exc}", file=sys.stderr)
        return 1
    rate = result.messages / result.elapsed if result.elapsed > 0 else 0.0
    print(
        f"record: {result.messages} messages in {len(result.segments)} segment(s) of {args.out} "
        f"in {result.elapsed:.1f} s ({rate:,.0f} msg/s); {result.gaps} gap(s), {result.dropped} dropped",
        file=sys.stderr,
    )
    return 0


def replay_main(argv: Sequence[str] | None = None) -> int:
    """Publish a capture's frames again, byte for byte, at the recorded pace, faster, or as fast as taken."""
    parser = argparse.ArgumentParser(
        prog="tradebridge replay",
        description="Publish the frames of a capture again, byte for byte, at the recorded pace or faster.",
    )
    parser.add_argument("capture", type=Path, metavar="FILE", help="a capture file or folder of segments")
    parser.add_argument("--endpoint", required=True, help="where to bind (tcp://HOST:PORT)")
    parser.add_argument("--connect", action="store_true", help="connect to the endpoint instead of binding")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="N times the recorded pace (default 1)")
    pace.add_argument("--max", action="store_true", help="as fast as the subscribers take the frames")
    parser.add_argument("--topics", default=None, help="only these comma-separated topics")
    parser.add_argument("--symbols", default=None, help="only these comma-separated symbols")
    parser.add_argument(
        "--start", type=_moment, default=None, help="only frames received at or after (ISO 8601)"
    )
    parser.add_argument("--end", type=_moment, default=None, help="only frames received before (ISO 8601)")
    parser.add_argument("--loop", action="store_true", help="start again at the end, until stopped")
    parser.add_argument(
        "--wait-for-subscribers", type=int, default=0, metavar="N", help="wait for N subscribers first"
    )
    parser.add_argument("--wait-timeout", type=float, default=30.0, help="seconds to wait for them")
    parser.add_argument(
        "--linger",
        type=float,
        default=None,
        metavar="S",
        help="at the end, wait at most S seconds for subscribers to take the queued frames (default: as "
        "long as they are connected; what is still queued after S seconds is lost)",
    )
    parser.add_argument("--health-port", type=int, default=0, help="serve /health and /ready; 0 = none")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        replayer = Replayer(
            args.capture,
            args.endpoint,
            bind=not args.connect,
            speed=None if args.max else args.speed,
            topics=_csv(args.topics),
            symbols=_csv(args.symbols),
            start=args.start,
            end=args.end,
            loop=args.loop,
            wait_for_subscribers=args.wait_for_subscribers,
            wait_timeout=args.wait_timeout,
            linger=args.linger,
        )
        with _stop_on_signals(replayer.stop), _health("replay", args.health_port, replayer.stats):
            result = replayer.run()
    except CaptureError as exc:
        return _fail("replay", exc)
    except (SubscriberTimeoutError, OSError) as exc:  # nobody came; the health port is taken
        print(f"replay: {exc}", file=sys.stderr)
        return 1
    rate = result.published / result.elapsed if result.elapsed > 0 else 0.0
    print(
        f"replay: {result.published} frames on {result.endpoint} in {result.elapsed:.1f} s "
        f"({rate:,.0f} msg/s, {result.passes} pass(es))",
        file=sys.stderr,
    )
    if not result.flushed:
        print(
            "replay: stopped before the subscribers took every frame: the last ones may not have arrived",
            file=sys.stderr,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tradebridge.capture record|replay ...`` (the same as ``tradebridge record|replay``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    commands = {"record": record_main, "replay": replay_main}
    if not args or args[0] not in commands:
        print("usage: python -m tradebridge.capture {record,replay} [options]", file=sys.stderr)
        return 2
    return commands[args[0]](args[1:])
