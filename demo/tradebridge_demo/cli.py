"""``tradebridge demo``: the guide's complete trading flow, locally, with one command.

Four separate processes on free loopback ports::

    mock-publisher --market--> strategy (Python: Rust features, model) --signal--> execution-engine (Rust)
         |                        ^                                                   |  risk checks
         +--market--> mock-broker | <-------------------- order ----------------------+  orders (REST)
                       ^          |                                                   |
                       +----------+ AlpacaPaperTrading (portfolio)  <-----------------+

The demo starts the mock broker, the engine and the strategy (``examples/strategy.py``, shipped in this
package), waits for each through its health endpoint, then starts the publisher (which waits for its
subscribers, so no bar is lost), shows a progress bar, and once every bar is processed and every order
final, stops everything, prints the summary (bars, signals, orders, fills, refusals, P&L, per-hop latency
p50/p99, consistency checks) and writes ``report.json``, ``equity.png`` and ``latency.png`` to ``--report``
(default ``reports/demo``). It measures the strategy from the outside only: what it publishes on the bus,
the engine's answers, and the strategy's ``/health`` and ``/metrics``.

Deterministic by default: the market takes a step only once the last one settled, the broker's clock is the
bars' and the engine counts market time, so the same ``--seed`` gives the same signals, orders, fills and P&L
(:mod:`tradebridge_demo.lockstep`). ``--record DIR`` keeps the run's bus traffic as a capture;
``--replay FILE`` runs the flow from a capture's market instead of the seeded one.

Against Alpaca paper instead of the mock broker: put ``ALPACA_API_KEY`` and ``ALPACA_SECRET_KEY`` in ``.env``
and run ``tradebridge demo --broker-url https://paper-api.alpaca.markets``. Market data stays the seeded
mock feed (synthetic prices), orders go to your paper account, and the checks cover this run's orders only
(client order ids ``tb-<run>-<n>``) against the change in positions.

Exit status: 0 when the run completed and the numbers are consistent; 1 when a service died, a port was
taken or a check failed (the message names the service and the reason); 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from tradebridge_demo.config import DemoConfig

__all__ = ["DemoConfig", "main", "parse_args"]

_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9.]{0,15}$")


def parse_args(argv: Sequence[str]) -> DemoConfig:
    parser = argparse.ArgumentParser(
        prog="tradebridge demo",
        description="Run the complete trading flow locally: mock market data and broker, the Rust execution "
        "engine and a Python strategy. No credentials, no configuration.",
    )
    parser.add_argument("--bars", type=int, default=300, help="bars per symbol (default 300)")
    parser.add_argument(
        "--symbols",
        nargs="+",
        default=["AAPL", "MSFT", "GOOGL"],
        metavar="SYMBOL",
        help="default AAPL MSFT GOOGL",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the market and the broker (default 7)")
    parser.add_argument("--report", type=Path, default=Path("reports/demo"), help="report directory")
    parser.add_argument(
        "--rate", type=float, default=100.0, help="bars per second, all symbols (default 100)"
    )
    parser.add_argument("--threshold", type=float, default=0.5, help="strategy signal threshold (0..1)")
    parser.add_argument("--max-position", type=float, default=30.0, help="engine limit, shares per symbol")
    parser.add_argument("--max-notional", type=float, default=20_000.0, help="engine limit, $ per symbol")
    parser.add_argument(
        "--max-orders-per-sec",
        type=int,
        default=5,
        help="engine order rate limit (the mock has no 200/min cap)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    parser.add_argument("--broker-port", type=int, default=0, help="mock broker port (0 = a free one)")
    parser.add_argument("--market-port", type=int, default=0, help="market data bus port (0 = a free one)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--broker-url",
        default=None,
        help="use this Alpaca-compatible broker instead of starting the mock: Alpaca paper "
        "(https://paper-api.alpaca.markets) or a loopback URL; credentials from the environment or "
        "--env-file",
    )
    parser.add_argument(
        "--market",
        choices=("stream", "synthetic"),
        default="stream",
        help="stream (default): market-data on the broker's market-data WebSocket (the mock's, or real IEX "
        "data with --broker-url Alpaca paper); synthetic: the mock publisher onto the bus",
    )
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="credentials file (default .env)")
    parser.add_argument(
        "--topology",
        choices=("direct", "proxy"),
        default="direct",
        help="direct (default): each topic's publisher binds; proxy: every service connects to a bus-proxy "
        "and two strategies trade (docs/deploy.md)",
    )
    parser.add_argument(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the market waits for the flow at every bar, so the same seed (or capture) gives the same "
        "signals, orders, fills and P&L (default with the mock broker, the stream or a replay, and the "
        "direct topology; --no-deterministic: everything runs at its own pace, as in production)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep the run's bus traffic (every topic) in DIR/capture.parquet, with a copy of its report",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="FILE",
        help="run from a capture's market (a --record DIR, or a `tradebridge record` file or folder) "
        "instead of the seeded one; its symbols and bars replace --symbols and --bars",
    )
    args = parser.parse_args(list(argv))
    symbols = [s.upper() for s in args.symbols for s in s.split(",") if s]
    if not symbols or any(not _SYMBOL.match(s) for s in symbols):
        parser.error(f"invalid symbols: {args.symbols}")
    if args.bars < 1:
        parser.error("--bars must be at least 1")
    if args.rate <= 0:
        parser.error("--rate must be > 0")
    # Lockstep needs a market the demo moves (the mock's, or a capture) and one engine reading one strategy.
    lockstep_possible = args.broker_url is None and args.topology == "direct"
    if args.replay is not None:
        if not lockstep_possible:
            parser.error("--replay runs against the mock broker with the direct topology")
        if args.deterministic is False:
            parser.error("--replay always runs in lockstep: leave out --no-deterministic")
        if not args.replay.exists():
            parser.error(f"--replay {args.replay}: no such capture file or folder")
    if args.record is not None and (args.record / "capture.parquet").exists():
        parser.error(f"--record {args.record}: it already holds a capture; remove it or record elsewhere")
    lockstep_possible = lockstep_possible and (args.market == "stream" or args.replay is not None)
    if args.deterministic and not lockstep_possible:
        parser.error(
            "--deterministic needs the mock broker (no --broker-url), the direct topology and the stream "
            "market (or --replay)"
        )
    deterministic = lockstep_possible if args.deterministic is None else args.deterministic
    return DemoConfig(
        bars=args.bars,
        symbols=tuple(dict.fromkeys(symbols)),
        seed=args.seed,
        report_dir=args.report,
        rate=args.rate,
        threshold=args.threshold,
        max_position=args.max_position,
        max_notional=args.max_notional,
        max_orders_per_sec=args.max_orders_per_sec,
        timeout=args.timeout,
        broker_port=args.broker_port,
        market_port=args.market_port,
        progress=not args.quiet,
        broker_url=args.broker_url,
        env_file=args.env_file,
        market=args.market,
        topology=args.topology,
        deterministic=deterministic,
        record=args.record,
        replay=args.replay,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    # imported here: `tradebridge --help` reads this module's docstring without loading alpaca-py
    from tradebridge_demo.run import run_demo

    return run_demo(config)
