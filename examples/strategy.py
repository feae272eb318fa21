"""A momentum strategy on tradebridge: market bars in, Rust features, a small model, signals out.

Each ``BarUpdate`` gets the guide's 12 features (computed in Rust) and a score from :func:`model`; when the
score crosses ``+threshold`` (``-threshold``) a ``long`` (``short``) ``Signal`` goes to the execution engine,
whose ``OrderUpdate`` s tell each signal's outcome. ``--health-port`` serves ``/health`` (``bars``,
``signals``, ``pending_signals``, ``fills``, ``refused``), ``/ready`` (every ``--symbols`` warm) and
``/metrics``. SIGINT/SIGTERM close the sockets and exit 0. Your model goes in :func:`model`; nothing else
has to change. Against the mocks, from a checkout after ``make dev build``::

    tradebridge mock-broker --port 8090 --market-endpoint tcp://127.0.0.1:5555 &
    target/release/execution-engine --market-endpoint tcp://127.0.0.1:5555 --health-port 8081 &
    python examples/strategy.py --symbols AAPL --health-port 8082 &
    tradebridge mock-publisher --endpoint tcp://127.0.0.1:5555 --symbols AAPL --count 300 \\
        --wait-for-subscribers 3
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import re
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Literal

from tradebridge.bus import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import BarUpdate, OrderUpdate, Signal
from tradebridge.features import Feature, FeatureError, MarketBar, RustFeatureComputer
from tradebridge.health import HealthCheck, start_health_server

log = logging.getLogger("strategy")
# Alpaca's order statuses after which an order never changes
FINAL = frozenset({"filled", "canceled", "expired", "rejected", "replaced", "done_for_day", "stopped"})


def model(features: Sequence[float]) -> float | None:
    """``0.5 * (rsi - 50) / 50 + 0.5 * tanh(macd_hist / (0.0005 * close))``, clamped to [-1, 1].

    Positive when RSI and the MACD histogram both say prices rise; the histogram is scaled by the price so
    one threshold suits a $20 and a $500 stock. None while an input still warms up (NaN).
    """
    close, rsi, hist = features[Feature.CLOSE], features[Feature.RSI], features[Feature.MACD_HIST]
    if not all(math.isfinite(x) for x in (close, rsi, hist)) or close <= 0:
        return None
    return max(-1.0, min(1.0, 0.5 * (rsi - 50.0) / 50.0 + 0.5 * math.tanh(hist / (0.0005 * close))))


def crossing(previous: float | None, score: float, threshold: float) -> Literal["long", "short"] | None:
    """The side whose zone beyond ``threshold`` the score just entered: one signal per move, not per bar."""
    before = 0.0 if previous is None else previous
    if score > threshold >= before:
        return "long"
    if score < -threshold <= before:
        return "short"
    return None


class Strategy:
    """Features and scores per symbol, the signals it made, and which of them still await an outcome."""

    def __init__(
        self,
        health: HealthCheck,
        symbols: Sequence[str],
        threshold: float,
        run_id: str,
        signal_time: str = "now",
    ) -> None:
        self.health, self.symbols, self.threshold, self.run_id = health, set(symbols), threshold, run_id
        self.signal_time = signal_time
        self.computer = RustFeatureComputer()  # keeps each symbol's indicator state apart
        self.features_latency = health.telemetry.latency("features")
        self.scores: dict[str, float] = {}
        self.pending: set[str] = set()  # signal ids without a final order update
        self.counts = dict.fromkeys(("bars", "signals", "fills", "refused"), 0)

    def on_bar(self, bar: BarUpdate) -> Signal | None:
        started = time.perf_counter()
        features = self.computer.compute_streaming(MarketBar.from_update(bar))
        self.features_latency.observe(time.perf_counter() - started)
        self.counts["bars"] += 1
        score = model(features)
        if score is None:
            return None
        direction = crossing(self.scores.get(bar.symbol), score, self.threshold)
        self.scores[bar.symbol] = score
        if direction is None:
            return None
        self.counts["signals"] += 1
        signal_id = f"{self.run_id}-{self.counts['signals']}"  # the engine's client order id: tb-<id>
        self.pending.add(signal_id)
        return Signal(
            symbol=bar.symbol,
            direction=direction,
            strength=round(abs(score), 6),
            # now: the engine refuses stale signals; or the bar's time, so that a replay or a deterministic
            # run stamps the same signal the same way (the engine then counts market time)
            timestamp=bar.timestamp if self.signal_time == "bar" else time.time_ns() // 1_000_000,
            features=[x if math.isfinite(x) else None for x in features],
            signal_id=signal_id,
            price=bar.close,  # a reference price for the engine's notional limit
            # the strategy's own notes: the bar's bus envelope, for an observer to join the signal to it
            metadata={
                "bar_source": bar.source if isinstance(bar.source, str) else None,
                "bar_seq": bar.seq if isinstance(bar.seq, int) else None,
            },
        )

    def on_order_update(self, update: OrderUpdate) -> None:
        signal_id = update.signal_id or update.client_order_id.removeprefix("tb-")
        if update.status in FINAL and signal_id in self.pending:
            self.pending.discard(signal_id)
            self.counts["fills"] += update.filled_qty > 0
            self.counts["refused"] += update.status == "rejected"

    def refresh_health(self) -> None:
        for name, value in self.counts.items():
            self.health.with_metric(name, value)
        self.health.with_metric("pending_signals", len(self.pending))
        warm = set(self.scores)
        if warm and self.symbols <= warm:
            self.health.mark_ready()
        else:
            self.health.not_ready(f"warming up: {len(warm)}/{len(self.symbols) or '?'} symbols warm")


async def run(args: argparse.Namespace) -> None:
    health = HealthCheck.healthy("strategy").not_ready("connecting")
    strategy = Strategy(health, args.symbols, args.threshold, args.run_id, args.signal_time)
    server = await start_health_server(args.health_port, health, "127.0.0.1") if args.health_port else None
    this = asyncio.current_task()
    assert this is not None  # asyncio.run runs us as a task
    for signum in (signal.SIGINT, signal.SIGTERM):  # at any point, even while waiting for subscribers
        asyncio.get_running_loop().add_signal_handler(signum, this.cancel)

    async def on_market(market: ZMQSubscriber, out: ZMQPublisher) -> None:
        async for _, message in market.receive():
            if not isinstance(message, BarUpdate):
                continue
            try:
                made = strategy.on_bar(message)
            except FeatureError as exc:  # e.g. low above close: one bad bar must not stop the strategy
                log.warning("bar refused: %s", exc)
                health.telemetry.malformed_messages.inc()
                continue
            if made is not None:
                await out.publish_signal(made)
            strategy.refresh_health()

    async def on_orders(orders: ZMQSubscriber) -> None:
        async for _, message in orders.receive():
            if isinstance(message, OrderUpdate):
                strategy.on_order_update(message)
                strategy.refresh_health()

    try:
        async with (
            ZMQPublisher(args.signal_endpoint, bind=not args.signal_connect) as out,
            ZMQSubscriber(args.market_endpoint) as market,
            ZMQSubscriber(args.order_endpoint) as orders,
        ):
            await market.connect(["market"])
            await orders.connect(["order"])
            # the engine (and any observer) must hear the first signal: wait for their subscriptions
            await out.wait_for_subscribers(args.subscribers, timeout=args.subscriber_wait, topic="signal")
            health.track("market", market).track("orders", orders).with_metric("bus_connected", True)
            health.not_ready("warming up")
            async with asyncio.TaskGroup() as loops:  # a failing loop cancels the other and ends the run
                loops.create_task(on_market(market, out))
                loops.create_task(on_orders(orders))
    except asyncio.CancelledError:
        pass  # SIGINT/SIGTERM: the sockets were closed on the way out
    finally:
        if server is not None:
            await server.stop()
    log.info("stopped: %s", ", ".join(f"{k} {v}" for k, v in strategy.counts.items()))


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--market-endpoint", default="tcp://127.0.0.1:5555", help="BarUpdates (connect)")
    parser.add_argument("--signal-endpoint", default="tcp://127.0.0.1:5556", help="Signals (bind)")
    parser.add_argument("--signal-connect", action="store_true", help="connect for Signals (to a bus-proxy)")
    parser.add_argument("--order-endpoint", default="tcp://127.0.0.1:5557", help="OrderUpdates (connect)")
    parser.add_argument("--symbols", type=lambda s: [x.strip().upper() for x in s.split(",") if x.strip()],
                        default=[], help="comma-separated symbols that must be warm to be ready")  # fmt: skip
    parser.add_argument("--threshold", type=float, default=0.5, help="|score| that makes a signal (0..1)")
    parser.add_argument("--health-port", type=int, default=0, help="serve /health, /ready, /metrics (0: no)")
    parser.add_argument("--run-id", default=uuid.uuid4().hex[:8], help="prefix of the signal ids ([a-z0-9])")
    parser.add_argument(
        "--signal-time",
        choices=("now", "bar"),
        default="now",
        help="a signal's timestamp: now (default) or its bar's (market time: replays, deterministic runs)",
    )
    parser.add_argument("--subscribers", type=int, default=1, help="signal subscribers to wait for")
    parser.add_argument("--subscriber-wait", type=float, default=10.0, help="seconds to wait for them")
    args = parser.parse_args(argv)
    if not 0.0 < args.threshold < 1.0:
        parser.error("--threshold must be between 0 and 1")
    if not re.fullmatch(r"[a-z0-9]{1,16}", args.run_id):
        parser.error("--run-id must be 1 to 16 of [a-z0-9]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s strategy %(message)s")
    try:
        asyncio.run(run(args))
    except Exception as exc:  # one line saying why, as every tradebridge process does
        while isinstance(exc, ExceptionGroup):
            exc = exc.exceptions[0]
        print(f"strategy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
