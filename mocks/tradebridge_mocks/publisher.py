"""``tradebridge mock-publisher``: seeded market data on a ZeroMQ PUB socket, as a real feed would send it.

Publishes ``BarUpdate`` s on topic ``market`` (one frame each, numbered by the bus): a seeded random walk
per symbol (the same walk the mock broker fills at, see :mod:`tradebridge_mocks.market`), or the rows of a
CSV file. Symbols take turns bar by bar, so every symbol's bar for one minute goes out before the next
minute's. ``--rate 0`` publishes as fast as it can. Each bar's envelope carries its send time
(``sent_at_us``, stamped by the bus), which is all a subscriber needs to measure its transit.

    tradebridge mock-publisher --endpoint tcp://127.0.0.1:5555 --symbols AAPL,MSFT --rate 1000 \\
        --count 10000 --seed 7 --wait-for-subscribers 1
"""

from __future__ import annotations

import argparse
import csv
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from tradebridge.bus import Curve, CurveConfigError
from tradebridge.bus.sync import SubscriberTimeoutError, ZMQPublisher
from tradebridge.contracts import BarUpdate
from tradebridge.errors import BusError

from tradebridge_mocks.market import Market

if TYPE_CHECKING:
    from tradebridge.health import HealthServer

__all__ = ["bar_updates", "csv_bar_updates", "main"]

#: bars generated per symbol per step: big enough to amortise numpy, small enough to start at once
_BATCH = 512
#: how often the progress line is refreshed
_PROGRESS_EVERY_S = 1.0


def bar_updates(symbols: Sequence[str], seed: int) -> Iterator[BarUpdate]:
    """Endless ``BarUpdate`` s of the shared seeded market, the symbols taking turns bar by bar."""
    market = Market(list(symbols), seed)
    walks = [market.walk(symbol) for symbol in symbols]
    while True:
        columns = []
        for walk in walks:
            bars = walk.next_bars(_BATCH)
            # tolist() turns numpy scalars into Python ints/floats once per batch, not once per field
            columns.append(
                (
                    walk.symbol,
                    bars.open.tolist(),
                    bars.high.tolist(),
                    bars.low.tolist(),
                    bars.close.tolist(),
                    bars.volume.tolist(),
                    bars.timestamp.tolist(),
                )
            )
        for i in range(_BATCH):
            for symbol, opens, highs, lows, closes, volumes, stamps in columns:
                yield BarUpdate(
                    symbol=symbol,
                    open=opens[i],
                    high=highs[i],
                    low=lows[i],
                    close=closes[i],
                    volume=volumes[i],
                    timestamp=stamps[i],
                )


def _parse_timestamp(text: str) -> int:
    """Epoch milliseconds from an integer column or an ISO 8601 / RFC 3339 time."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def csv_bar_updates(path: Path, symbols: Sequence[str] | None = None) -> Iterator[BarUpdate]:
    """The rows of a CSV file with a header ``symbol,timestamp,open,high,low,close,volume`` (any order;
    extra columns ignored), in file order; only ``symbols`` when given."""
    wanted = set(symbols) if symbols else None
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"symbol", "timestamp", "open", "high", "low", "close", "volume"} - set(
            reader.fieldnames or ()
        )
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        for line, row in enumerate(reader, start=2):
            if wanted is not None and row["symbol"] not in wanted:
                continue
            try:
                yield BarUpdate(
                    symbol=row["symbol"],
                    open=float(row["open"]),
                    high=float(row["high"]),
                    low=float(row["low"]),
                    close=float(row["close"]),
                    volume=float(row["volume"]),
                    timestamp=_parse_timestamp(row["timestamp"]),
                )
            except ValueError as exc:
                raise ValueError(f"{path}:{line}: {exc}") from None


class _Progress:
    """One status line on stderr: rewritten in place on a terminal, one line per interval otherwise."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._next = self.started + _PROGRESS_EVERY_S
        self._tty = sys.stderr.isatty()

    def maybe(self, published: int) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + _PROGRESS_EVERY_S
            self._write(published, now, final=False)

    def done(self, published: int) -> None:
        self._write(published, time.monotonic(), final=True)

    def _write(self, published: int, now: float, *, final: bool) -> None:
        elapsed = max(now - self.started, 1e-9)
        line = f"mock-publisher: {published} bars in {elapsed:.1f} s ({published / elapsed:,.0f} bars/s)"
        if self._tty and not final:
            sys.stderr.write("\r" + line)
        else:
            sys.stderr.write(("\r" if self._tty else "") + line + "\n")
        sys.stderr.flush()


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tradebridge mock-publisher", description="Publish seeded BarUpdates on topic 'market'."
    )
    parser.add_argument(
        "--endpoint", default="tcp://127.0.0.1:5555", help="where to bind (default %(default)s)"
    )
    parser.add_argument("--connect", action="store_true", help="connect to the endpoint instead of binding")
    parser.add_argument("--symbols", default=None, help="comma-separated symbols (default AAPL,MSFT,GOOGL)")
    parser.add_argument("--rate", type=float, default=10.0, help="bars per second in total; 0 = unthrottled")
    parser.add_argument("--count", type=int, default=0, help="bars to publish, then exit; 0 = until stopped")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random walk (default 0)")
    parser.add_argument(
        "--wait-for-subscribers",
        type=int,
        default=0,
        metavar="K",
        help="wait for K subscribers before publishing",
    )
    parser.add_argument(
        "--wait-timeout", type=float, default=30.0, help="seconds to wait for them (default 30)"
    )
    parser.add_argument(
        "--from-csv", type=Path, default=None, metavar="FILE", help="replay bars from a CSV file"
    )
    parser.add_argument("--health-port", type=int, default=0, help="serve /health and /ready; 0 = none")
    parser.add_argument(
        "--curve-secret-key", metavar="FILE", help="CURVE key file (else TRADEBRIDGE_CURVE_SECRET_KEY)"
    )
    parser.add_argument("--curve-allow", metavar="DIR|KEYS|*", help="CURVE clients admitted when binding")
    parser.add_argument("--curve-server-key", metavar="FILE", help="CURVE server key when connecting")
    args = parser.parse_args(list(argv))
    if args.rate < 0 or args.count < 0 or args.wait_for_subscribers < 0:
        parser.error("--rate, --count and --wait-for-subscribers must be >= 0")
    return args


def _start_health(port: int, publisher: ZMQPublisher) -> HealthServer:
    """``/health`` and ``/ready`` on loopback from a background thread, with the publisher's counters."""
    from tradebridge.health import HealthCheck, HealthServer

    health = HealthCheck.healthy("mock-publisher").with_metric("endpoint", publisher.endpoint)
    health.track("bus", publisher)
    server = HealthServer(health, port, host="127.0.0.1")
    server.start_in_thread()
    return server


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    try:
        curve = Curve.from_env(
            secret_key_file=args.curve_secret_key,
            server_key_file=args.curve_server_key,
            allow=args.curve_allow,
        )
    except CurveConfigError as exc:
        print(f"mock-publisher: {exc}", file=sys.stderr)
        return 2
    try:
        bars = (
            csv_bar_updates(args.from_csv, symbols)
            if args.from_csv
            else bar_updates(symbols or ["AAPL", "MSFT", "GOOGL"], args.seed)
        )
    except OSError as exc:
        print(f"mock-publisher: cannot read {args.from_csv}: {exc.strerror}", file=sys.stderr)
        return 2

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    publisher = ZMQPublisher(args.endpoint, bind=not args.connect, curve=curve)
    health = None
    try:
        publisher.connect()
        print(
            f"mock-publisher: publishing on {publisher.endpoint} (source {publisher.source})", file=sys.stderr
        )
        if args.health_port:
            health = _start_health(args.health_port, publisher)
        if args.wait_for_subscribers and not _wait(
            publisher, args.wait_for_subscribers, args.wait_timeout, lambda: stopping
        ):
            return 0
        return _run(publisher, bars, args.count, args.rate, lambda: stopping)
    except (BusError, OSError) as exc:  # cannot bind the bus or the health port
        print(f"mock-publisher: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # a bad CSV row: say where, publish nothing more
        print(f"mock-publisher: {exc}", file=sys.stderr)
        return 2
    finally:
        if health is not None:
            health.close()
        publisher.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait(publisher: ZMQPublisher, k: int, timeout: float, stopping: Callable[[], bool]) -> bool:
    """True once ``k`` subscribers listen to ``market``, False if stopped first; raises on timeout."""
    deadline = time.monotonic() + timeout
    # in slices, so that Ctrl-C during the wait still ends the program promptly
    while not stopping():
        remaining = deadline - time.monotonic()
        try:
            publisher.wait_for_subscribers(k, timeout=min(0.2, max(remaining, 0.0)), topic="market")
            return True
        except SubscriberTimeoutError:
            if remaining <= 0:
                raise
    return False


def _run(
    publisher: ZMQPublisher,
    bars: Iterator[BarUpdate],
    count: int,
    rate: float,
    stopping: Callable[[], bool],
) -> int:
    progress = _Progress()
    published = 0
    # Send in small chunks: the stop flag, the rate and the progress line are looked at between chunks.
    chunk = 256 if rate == 0 else max(1, min(256, int(rate / 100)))
    started = time.monotonic()
    try:
        while not stopping():
            want = chunk if count == 0 else min(chunk, count - published)
            if want <= 0:
                break
            sent = publisher.publish_many(islice(bars, want))
            published += sent
            if sent < want:  # a CSV ran out
                break
            if rate:
                ahead = started + published / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            progress.maybe(published)
    finally:
        progress.done(published)
    return 0
