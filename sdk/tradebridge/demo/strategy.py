"""A momentum strategy service built only from tradebridge's public API: copy it to start your own.

What it does, per ``BarUpdate`` on the market bus:

1. feeds the bar to a per-symbol :class:`~tradebridge.RustFeatureComputer` (the guide's 12 features);
2. scores it with :func:`momentum_score` (RSI and MACD histogram, a number in [-1, 1]);
3. when the score crosses ``+threshold`` (or ``-threshold``), publishes a ``long`` (``short``) :class:`Signal`
   of strength ``|score|`` for the execution engine;
4. follows the engine's :class:`OrderUpdate`s for its signals, and samples the account's equity through
   :class:`~tradebridge.AlpacaPaperTrading`.

Each signal carries ``metadata.published_us`` (wall clock when it was sent, for the engine's bus-transit
metric), ``metadata.signal_id`` (the engine's client order id is ``tb-<signal_id>``, so every
order update maps back to its signal), ``metadata.price`` (the bar's close, a reference price for the
engine's notional limit) and ``metadata.bar_timestamp``. Its ``timestamp`` is the wall-clock time at which
the signal was made, which is what the engine's staleness check compares against; the bar's own time is
market time, and in a replay may be years old.

Health (``--health-port``): ``/live`` as soon as the process runs; ``/ready`` once the sockets are
connected *and* every symbol's indicators are warm; ``/health`` metrics ``bars``, ``signals``,
``pending_signals``, ``fills``, ``refused``, ``bus_connected``. On SIGINT/SIGTERM it stops, writes its
report (``--report-file``: counts, per-signal outcomes, per-hop latencies, each bar's
``(source, seq)`` with its wall-clock receive time, equity curve) and exits 0.

Run it: ``python -m tradebridge.demo.strategy --market-endpoint tcp://127.0.0.1:5555
--signal-endpoint tcp://127.0.0.1:5556 --order-endpoint tcp://127.0.0.1:5557 --broker-url URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import re
import signal as signals
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tradebridge._native import MarketBar, RustFeatureComputer
from tradebridge.alpaca import AlpacaPaperTrading, RetryPolicy
from tradebridge.bus import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import BarUpdate, OrderUpdate, Signal
from tradebridge.health import HealthCheck, start_health_server

log = logging.getLogger("tradebridge.demo.strategy")

Direction = Literal["long", "short"]

# Positions in the feature vector compute_streaming returns (the guide's order).
CLOSE, RSI, MACD_HIST = 0, 1, 4

#: Order statuses after which an order never changes (Alpaca's).
FINAL_STATUSES = frozenset(
    {"filled", "canceled", "expired", "rejected", "replaced", "done_for_day", "stopped"}
)

#: The hops of the flow, in order; each is measured on this process's monotonic clock. The hop before them
#: (bar published -> received) needs the publisher's send times: the demo joins them with
#: ``bar_receipts`` (see :meth:`MomentumStrategy.report`).
HOPS = ("bar_to_features", "features_to_signal", "signal_to_ack", "ack_to_fill", "bar_to_fill")


def momentum_score(features: Sequence[float]) -> float | None:
    """The model: ``0.5 * (rsi - 50) / 50 + 0.5 * tanh(macd_hist / (0.0005 * close))``, in [-1, 1].

    Positive when both RSI and the MACD histogram say prices are rising. The histogram is scaled by the
    price so that one threshold suits a $20 and a $500 stock. None while an input is still warming up
    (the feature computer returns NaN until it has seen enough bars).
    """
    close, rsi, hist = features[CLOSE], features[RSI], features[MACD_HIST]
    if not all(math.isfinite(x) for x in (close, rsi, hist)) or close <= 0:
        return None
    score = 0.5 * (rsi - 50.0) / 50.0 + 0.5 * math.tanh(hist / (0.0005 * close))
    return max(-1.0, min(1.0, score))


def crossing(previous: float | None, score: float, threshold: float) -> Direction | None:
    """``long``/``short`` when the score enters the zone beyond ``threshold`` (edge-triggered, so one
    signal per move instead of one per bar), else None."""
    before = 0.0 if previous is None else previous
    if score > threshold >= before:
        return "long"
    if score < -threshold <= before:
        return "short"
    return None


@dataclass
class SignalRecord:
    """One published signal and what became of it (times are ``perf_counter_ns``)."""

    signal_id: str
    symbol: str
    direction: Direction
    strength: float
    price: float
    bar_timestamp: int
    t_bar: int
    t_features: int
    t_signal: int
    #: the bar's envelope (publisher instance, per-topic seq): the key to the publisher's send time
    bar_source: str | None = None
    bar_seq: int | None = None
    t_ack: int | None = None
    t_fill: int | None = None
    status: str | None = None
    reason: str | None = None
    order_id: str | None = None
    qty: float | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def hops_ms(self) -> dict[str, float]:
        ms = 1e-6
        hops = {
            "bar_to_features": (self.t_features - self.t_bar) * ms,
            "features_to_signal": (self.t_signal - self.t_features) * ms,
        }
        if self.t_ack is not None:
            hops["signal_to_ack"] = (self.t_ack - self.t_signal) * ms
        if self.t_ack is not None and self.t_fill is not None:
            hops["ack_to_fill"] = (self.t_fill - self.t_ack) * ms
            hops["bar_to_fill"] = (self.t_fill - self.t_bar) * ms
        return hops


@dataclass
class StrategyConfig:
    market_endpoint: str
    signal_endpoint: str
    order_endpoint: str
    broker_url: str | None = None
    symbols: tuple[str, ...] = ()
    threshold: float = 0.5
    health_port: int = 0
    report_file: Path | None = None
    portfolio_interval: float = 0.5
    engine_wait: float = 10.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


class MomentumStrategy:
    """The service: state and handlers; :meth:`run` wires them to the bus, the broker and health."""

    def __init__(self, config: StrategyConfig) -> None:
        self.config = config
        self.health = HealthCheck.healthy("strategy").not_ready("connecting")
        self.computers: dict[str, RustFeatureComputer] = {}
        self.scores: dict[str, float | None] = {}
        self.warm: set[str] = set()
        self.records: dict[str, SignalRecord] = {}
        self.bars = 0
        self.order_updates = 0
        self.unmatched_updates = 0
        self.equity_curve: list[tuple[float, float, float]] = []  # (seconds since start, equity, total P&L)
        self.portfolio_errors = 0
        self.feature_ms: list[float] = []  # bar received -> features, for every bar
        # Per bar publisher: [seq, wall-clock receive time in ns] for every bar, so that the demo can join
        # the publisher's send times (same host clock) without any new field in the message contract.
        self.bar_receipts: dict[str, list[list[int]]] = {}
        # Kept as running counts so the per-message health refresh stays O(1) however long the run.
        self.pending_count = 0
        self.fill_count = 0
        self.refused_count = 0
        self.started = time.monotonic()
        self._next_signal = 0

    # -- market data -> features -> model -> signal --------------------------------------------------------

    def on_bar(self, bar: BarUpdate, t_bar: int, received_ns: int | None = None) -> Signal | None:
        """Features and model for one bar received at ``t_bar`` (``perf_counter_ns``) and ``received_ns``
        (``time.time_ns``, kept with the bar's source and seq); the signal to publish, if any."""
        source = bar.source if isinstance(bar.source, str) else None
        seq = bar.seq if isinstance(bar.seq, int) else None
        if received_ns is not None and source is not None and seq is not None:
            receipts = self.bar_receipts.get(source)
            if receipts is None:
                receipts = self.bar_receipts[source] = []
            receipts.append([seq, received_ns])
        computer = self.computers.get(bar.symbol)
        if computer is None:
            computer = self.computers[bar.symbol] = RustFeatureComputer()
        features = computer.compute_streaming(
            MarketBar(
                symbol=bar.symbol,
                open=bar.open,
                high=bar.high,
                low=bar.low,
                close=bar.close,
                volume=bar.volume,
                timestamp=bar.timestamp,
            )
        )
        t_features = time.perf_counter_ns()
        self.bars += 1
        self.feature_ms.append((t_features - t_bar) * 1e-6)
        score = momentum_score(features)
        if score is None:
            return None
        self.warm.add(bar.symbol)
        direction = crossing(self.scores.get(bar.symbol), score, self.config.threshold)
        self.scores[bar.symbol] = score
        if direction is None:
            return None
        self._next_signal += 1
        signal_id = f"{self.config.run_id}-{self._next_signal}"
        signal = Signal(
            symbol=bar.symbol,
            direction=direction,
            strength=round(abs(score), 6),
            timestamp=int(time.time() * 1000),
            features=[x if math.isfinite(x) else None for x in features],
            metadata={
                "signal_id": signal_id,
                "price": bar.close,
                "bar_timestamp": bar.timestamp,
                "model": "rsi-macd-momentum",
            },
        )
        self.records[signal_id] = SignalRecord(
            signal_id=signal_id,
            symbol=bar.symbol,
            direction=direction,
            strength=signal.strength,
            price=bar.close,
            bar_timestamp=bar.timestamp,
            t_bar=t_bar,
            t_features=t_features,
            t_signal=0,
            bar_source=source,
            bar_seq=seq,
        )
        self.pending_count += 1
        return signal

    # -- order updates ---------------------------------------------------------------------------------------

    def on_order_update(self, update: OrderUpdate, t_seen: int) -> None:
        self.order_updates += 1
        record = self.records.get(update.client_order_id.removeprefix("tb-"))
        if record is None:
            self.unmatched_updates += 1  # another strategy's order, or a refused duplicate
            return
        was_final, had_fill = record.final, record.filled_qty > 0
        if record.t_ack is None and update.status != "rejected":
            record.t_ack = t_seen
        if update.status == "filled" and record.t_fill is None:
            record.t_fill = t_seen
        record.status = update.status
        record.order_id = update.order_id
        record.qty = update.qty
        record.filled_qty = update.filled_qty
        record.filled_avg_price = update.filled_avg_price
        if isinstance(update.reason, str):
            record.reason = update.reason
        if record.final and not was_final:
            self.pending_count -= 1
            self.refused_count += record.status == "rejected"
        self.fill_count += record.filled_qty > 0 and not had_fill

    # -- reporting -------------------------------------------------------------------------------------------

    def pending(self) -> int:
        return self.pending_count

    def update_health(self) -> None:
        for name, value in (
            ("bars", self.bars),
            ("signals", len(self.records)),
            ("pending_signals", self.pending_count),
            ("fills", self.fill_count),
            ("refused", self.refused_count),
            ("warm_symbols", len(self.warm)),
        ):
            self.health.with_metric(name, value)
        wanted = set(self.config.symbols) or set(self.computers)
        if wanted and wanted <= self.warm:
            self.health.mark_ready()
        elif self.health.ready is False and self.health.ready_reason != "connecting":
            self.health.not_ready(f"warming up: {len(self.warm)}/{len(wanted) or '?'} symbols warm")

    def report(self) -> dict[str, Any]:
        latencies: dict[str, list[float]] = {hop: [] for hop in HOPS}
        for record in self.records.values():
            for hop, value in record.hops_ms().items():
                if hop != "bar_to_features":
                    latencies[hop].append(value)
        latencies["bar_to_features"] = [round(x, 6) for x in self.feature_ms]
        return {
            "bars": self.bars,
            "signals": len(self.records),
            "order_updates": self.order_updates,
            "unmatched_updates": self.unmatched_updates,
            "portfolio_errors": self.portfolio_errors,
            "latency_ms": latencies,
            "bar_receipts": self.bar_receipts,
            "equity_curve": self.equity_curve,
            "records": [
                {k: v for k, v in asdict(r).items() if not k.startswith("t_")} | {"hops_ms": r.hops_ms()}
                for r in self.records.values()
            ],
        }

    # -- the service -----------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        config = self.config
        server = None
        if config.health_port:
            server = await start_health_server(config.health_port, self.health, host="127.0.0.1")
        # Portfolio reads are samples for a chart: short timeouts and one retry, so a slow or stopping broker
        # never holds up the strategy (or its shutdown).
        alpaca = AlpacaPaperTrading(
            base_url=config.broker_url,
            timeout=2.0,
            retry=RetryPolicy(max_retries=1, base_delay=0.1, max_delay=0.5),
        )
        try:
            async with (
                ZMQPublisher(config.signal_endpoint) as signals_out,
                ZMQSubscriber(config.market_endpoint) as market,
                ZMQSubscriber(config.order_endpoint) as orders,
            ):
                await signals_out.connect()
                await market.connect(["market"])
                await orders.connect(["order"])
                self.health.track("market", market).track("orders", orders).track("signals", signals_out)
                # The engine must hear the first signal: wait for its subscription (no slow joiner).
                await signals_out.wait_for_subscribers(1, timeout=config.engine_wait, topic="signal")
                self.health.with_metric("bus_connected", True).not_ready("warming up: no bars yet")
                self.update_health()
                tasks = [
                    asyncio.create_task(self._market_loop(market, signals_out)),
                    asyncio.create_task(self._order_loop(orders)),
                    asyncio.create_task(self._portfolio_loop(alpaca, stop)),
                ]
                # Run until asked to stop, or until a loop fails (then the process exits 1 saying why).
                stopping = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                failed = [t for t in done if t is not stopping and not t.cancelled() and t.exception()]
                market.stop()
                orders.stop()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                if failed:
                    raise failed[0].exception()  # type: ignore[misc]
        finally:
            if server is not None:
                await server.stop()

    async def _market_loop(self, market: ZMQSubscriber, out: ZMQPublisher) -> None:
        async for _topic, message in market.receive():
            t_bar = time.perf_counter_ns()
            received_ns = time.time_ns()  # wall clock: comparable with the publisher's send time
            if not isinstance(message, BarUpdate):
                continue
            signal = self.on_bar(message, t_bar, received_ns)
            if signal is not None:
                # The engine measures the bus hop from this stamp (same host, same wall clock).
                signal.metadata["published_us"] = time.time_ns() // 1000  # type: ignore[index]
                await out.publish_signal(signal)
                self.records[signal.metadata["signal_id"]].t_signal = time.perf_counter_ns()  # type: ignore[index]
            self.update_health()

    async def _order_loop(self, orders: ZMQSubscriber) -> None:
        async for _topic, message in orders.receive():
            if isinstance(message, OrderUpdate):
                self.on_order_update(message, time.perf_counter_ns())
                self.update_health()

    async def _portfolio_loop(self, alpaca: AlpacaPaperTrading, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._sample_portfolio(alpaca)
            await asyncio.sleep(self.config.portfolio_interval)

    async def _sample_portfolio(self, alpaca: AlpacaPaperTrading) -> None:
        try:
            metrics = await asyncio.to_thread(alpaca.get_portfolio_metrics)
        except Exception as exc:  # the broker being slow or down must not stop the strategy
            self.portfolio_errors += 1
            log.warning("portfolio read failed: %s", exc)
            return
        elapsed = time.monotonic() - self.started
        self.equity_curve.append((round(elapsed, 3), float(metrics.total_equity), float(metrics.total_pl)))


def _arguments(argv: Sequence[str]) -> StrategyConfig:
    parser = argparse.ArgumentParser(
        prog="python -m tradebridge.demo.strategy", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--market-endpoint", default="tcp://127.0.0.1:5555", help="BarUpdates (subscribe)")
    parser.add_argument("--signal-endpoint", default="tcp://127.0.0.1:5556", help="Signals (bind, publish)")
    parser.add_argument("--order-endpoint", default="tcp://127.0.0.1:5557", help="OrderUpdates (subscribe)")
    parser.add_argument(
        "--broker-url", default=None, help="Alpaca-compatible origin (default: ALPACA_BASE_URL, else paper)"
    )
    parser.add_argument("--symbols", default="", help="comma-separated symbols that must be warm to be ready")
    parser.add_argument("--threshold", type=float, default=0.5, help="|score| that triggers a signal (0..1)")
    parser.add_argument("--health-port", type=int, default=0, help="serve /health, /ready, /live (0 = none)")
    parser.add_argument("--report-file", type=Path, default=None, help="write the JSON report here on exit")
    parser.add_argument(
        "--portfolio-interval", type=float, default=0.5, help="seconds between equity samples"
    )
    parser.add_argument("--engine-wait", type=float, default=10.0, help="seconds to wait for the engine")
    parser.add_argument(
        "--run-id", default=None, help="prefix of this run's signal ids ([a-z0-9], default random)"
    )
    args = parser.parse_args(argv)
    if args.run_id is not None and not re.fullmatch(r"[a-z0-9]{1,16}", args.run_id):
        parser.error("--run-id must be 1..16 characters of [a-z0-9]")
    if not 0.0 < args.threshold < 1.0:
        parser.error("--threshold must be between 0 and 1")
    return StrategyConfig(
        market_endpoint=args.market_endpoint,
        signal_endpoint=args.signal_endpoint,
        order_endpoint=args.order_endpoint,
        broker_url=args.broker_url,
        symbols=tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()),
        threshold=args.threshold,
        health_port=args.health_port,
        report_file=args.report_file,
        portfolio_interval=args.portfolio_interval,
        engine_wait=args.engine_wait,
        **({"run_id": args.run_id} if args.run_id else {}),
    )


async def _main(config: StrategyConfig) -> int:
    strategy = MomentumStrategy(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signals.SIGINT, signals.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await strategy.run(stop)
    finally:
        if config.report_file is not None:
            tmp = config.report_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(strategy.report()))
            os.replace(tmp, config.report_file)  # the demo never reads a half-written report
    log.info("strategy stopped: %d bars, %d signals", strategy.bars, len(strategy.records))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    config = _arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s strategy %(message)s")
    try:
        return asyncio.run(_main(config))
    except Exception as exc:  # one line saying why, as every tradebridge process does
        print(f"strategy: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
