"""An Alpaca-compatible paper broker on loopback: ``tradebridge mock-broker`` or ``MockBroker`` in-process.

It serves every trading and stock-data operation of Alpaca's REST API that alpaca-py reaches (orders with
replace and bracket/OTO/OCO legs, positions, account, configurations, activities, portfolio history, clock,
calendar, assets, watchlists; bars, trades, quotes, latest values, snapshots, meta) on one origin, so the
unmodified alpaca-py clients work against it with ``url_override=broker.url``, on a clock that can be always
open, NYSE's, or a replay's (``--clock``). It is described in ``contracts/openapi/alpaca-mock.yaml``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
from datetime import datetime
from decimal import Decimal

from tradebridge.health import HttpLimits

from tradebridge_mocks.broker.clock import CLOCK_MODES
from tradebridge_mocks.broker.engine import EngineOptions, PaperEngine, Refusal
from tradebridge_mocks.broker.prices import DEFAULT_MAX_HISTORY, PriceBook
from tradebridge_mocks.broker.runtime import BrokerServer, MockBroker
from tradebridge_mocks.broker.server import BrokerConfig, Fault, RequestRecord
from tradebridge_mocks.broker.streams import FaultError, StreamFault, StreamOptions

__all__ = [
    "BrokerConfig",
    "BrokerServer",
    "EngineOptions",
    "Fault",
    "MockBroker",
    "PaperEngine",
    "PriceBook",
    "Refusal",
    "RequestRecord",
    "StreamFault",
    "StreamOptions",
    "main",
]

log = logging.getLogger("tradebridge_mocks.broker")


def _rate(text: str) -> int:
    match = re.fullmatch(r"(\d+)(?:/min)?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected N or N/min, got {text!r}")
    return int(match.group(1))


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a rate between 0 and 1, got {text!r}")
    return value


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an RFC 3339 time, got {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"the time needs a UTC offset: {text!r}")
    return moment


def _stream_fault(text: str) -> StreamFault:
    try:
        return StreamFault.parse(text)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_stream_flags(parser: argparse.ArgumentParser) -> None:
    streams = parser.add_argument_group("WebSocket streams (/v2/iex, /v2/sip, /v2/test and /stream)")
    streams.add_argument(
        "--stream-interval",
        type=float,
        default=0.1,
        help="seconds between two ticks of trades and quotes (bars arrive with --bar-interval; 0 = off)",
    )
    streams.add_argument("--stream-auth-timeout", type=float, default=10.0, help="seconds before 404")
    streams.add_argument(
        "--stream-connection-limit", type=int, default=1, help="data connections per key (406); 0 = none"
    )
    streams.add_argument(
        "--stream-symbol-limit", type=int, default=30, help="trade/quote symbols per connection (405)"
    )
    streams.add_argument(
        "--stream-slow-client-bytes", type=int, default=4 * 1024 * 1024, help="unsent bytes before 407"
    )
    streams.add_argument(
        "--stream-fault",
        type=_stream_fault,
        action="append",
        default=[],
        metavar="STREAM:ACTION[:k=v,...]",
        help="play a fault from the start, e.g. data:drop:every_ms=5000, trading:delay:ms=200, "
        "data:refuse_auth:count=3 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradebridge mock-broker",
        description="Serve an Alpaca-compatible paper broker (trading and market data) on loopback.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address of the broker and health ports (default loopback only)"
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the price walks and of the fills")
    parser.add_argument("--symbols", nargs="+", default=["AAPL", "MSFT", "GOOGL"], metavar="SYMBOL")
    parser.add_argument(
        "--rate-limit", type=_rate, default=200, metavar="N/min", help="per API key, 0 disables (default 200)"
    )
    parser.add_argument("--rate-window", type=float, default=60.0, help="rate-limit window in seconds")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every /v2 answer")
    parser.add_argument("--error-rate", type=_probability, default=0.0, help="share of injected 5xx answers")
    parser.add_argument("--health-port", type=int, default=0, help="serve /health here (0 = none)")
    parser.add_argument("--market-endpoint", help="follow BarUpdates on this bus endpoint (tcp://...)")
    parser.add_argument(
        "--bar-interval", type=float, default=1.0, help="seconds per bar of the seeded walk (0 = admin only)"
    )
    parser.add_argument("--half-spread", type=Decimal, default=Decimal("0.01"), help="ask - last, in dollars")
    parser.add_argument(
        "--max-history",
        type=int,
        default=DEFAULT_MAX_HISTORY,
        help=f"bars kept per symbol for the data API and streams (default {DEFAULT_MAX_HISTORY})",
    )
    parser.add_argument("--fill-mode", choices=("immediate", "deferred"), default="immediate")
    parser.add_argument("--partial-fill-rate", type=_probability, default=0.0)
    parser.add_argument("--initial-cash", type=Decimal, default=Decimal("100000"))
    parser.add_argument("--no-shorting", action="store_true", help="refuse short sales (403)")
    parser.add_argument(
        "--api-key-env",
        action="store_true",
        help="accept only the key pair in ALPACA_API_KEY/ALPACA_SECRET_KEY (default: any non-empty pair)",
    )
    parser.add_argument(
        "--clock",
        choices=CLOCK_MODES,
        default="always-open",
        help="always-open: trade at any hour (default); exchange: NYSE sessions and holidays; "
        "replay: the bars (bus or admin) move the clock",
    )
    parser.add_argument(
        "--clock-start",
        type=_moment,
        metavar="RFC3339",
        help="freeze the clock at this moment; it then moves only by POST /admin/clock",
    )
    limits = parser.add_argument_group("HTTP limits (what one client may hold)")
    default = HttpLimits()
    limits.add_argument(
        "--max-connections",
        type=int,
        default=default.max_connections,
        help=f"open connections at once; the excess gets 503 (default {default.max_connections})",
    )
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=default.header_timeout,
        help=f"seconds to send a request head, also the idle keep-alive (default {default.header_timeout:g})",
    )
    limits.add_argument(
        "--body-timeout",
        type=float,
        default=default.body_timeout,
        help=f"seconds for a request body to arrive, else 408 (default {default.body_timeout:g})",
    )
    _add_stream_flags(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> BrokerConfig:
    api_key = secret_key = None
    if args.api_key_env:
        import os

        api_key = os.environ.get("ALPACA_API_KEY") or os.environ.get("APCA_API_KEY_ID")
        secret_key = os.environ.get("ALPACA_SECRET_KEY") or os.environ.get("APCA_API_SECRET_KEY")
        if not api_key or not secret_key:
            raise SystemExit("mock-broker: --api-key-env needs ALPACA_API_KEY and ALPACA_SECRET_KEY set")
    return BrokerConfig(
        host=args.host,
        port=args.port,
        seed=args.seed,
        symbols=tuple(args.symbols),
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        health_port=args.health_port,
        market_endpoint=args.market_endpoint,
        bar_interval=args.bar_interval,
        api_key=api_key,
        secret_key=secret_key,
        half_spread=args.half_spread,
        max_history=args.max_history,
        fill_mode=args.fill_mode,
        partial_fill_rate=args.partial_fill_rate,
        initial_cash=args.initial_cash,
        shorting_enabled=not args.no_shorting,
        clock=args.clock,
        clock_start=args.clock_start,
        http_limits=HttpLimits(
            max_connections=args.max_connections,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
        ),
        streams=StreamOptions(
            interval=args.stream_interval,
            auth_timeout=args.stream_auth_timeout,
            connection_limit=args.stream_connection_limit,
            symbol_limit=args.stream_symbol_limit,
            slow_client_bytes=args.stream_slow_client_bytes,
            faults=tuple(args.stream_fault),
        ),
    )


async def _serve(config: BrokerConfig) -> int:
    server = BrokerServer(config)
    try:
        await server.start()
    except OSError as exc:  # bind (errno set), bus endpoint or health port
        reason = f"cannot listen on {config.host}:{config.port}: {exc.strerror}" if exc.errno else str(exc)
        print(f"mock-broker: {reason}", file=sys.stderr)
        await server.stop()
        return 1
    print(server.url, flush=True)  # the one stdout line: where to point url_override
    log.info("mock broker serving %s (seed %d)", server.url, config.seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(_serve(config_from_args(args)))
