"""Following a run to its end: the progress line, the completion test, and the numbers collected from the
outside (the services' ``/health`` and ``/metrics``, the observer's bus view, the broker's account)."""

from __future__ import annotations

import contextlib
import sys
import time
import urllib.request

from tradebridge.alpaca import AlpacaPaperTrading
from tradebridge.errors import TradebridgeError
from tradebridge.testing import Service, ServiceError

from tradebridge_demo.config import DemoConfig
from tradebridge_demo.lockstep import CaptureFeed
from tradebridge_demo.market import MarketClock
from tradebridge_demo.observer import BusObserver
from tradebridge_demo.report import (
    BrokerOrder,
    DemoResult,
    decimal_float,
    fill_seen_ms,
    histogram_summary,
    observed_flow,
)
from tradebridge_demo.topology import SECOND_STRATEGY

__all__ = ["Progress", "follow", "say"]


class Progress:
    """One self-rewriting line on a terminal; silent otherwise (CI logs stay readable)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = max(total, 1)
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.monotonic()

    def show(self, done: int, metrics: dict[str, str]) -> None:
        if not self.enabled:
            return
        width = 30
        filled = min(width, int(width * done / self.total))
        bar = "#" * filled + "-" * (width - filled)
        extra = f"signals {metrics.get('signals', '0')}  fills {metrics.get('fills', '0')}"
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"\r  [{bar}] {done}/{self.total} bars  {extra}  {elapsed:5.1f}s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def follow(
    config: DemoConfig,
    services: list[Service],
    observer: BusObserver,
    progress: Progress,
    started: float,
    alpaca: AlpacaPaperTrading,
    run_id: str,
    clock: MarketClock | CaptureFeed | None,
    publisher: Service | None,
) -> DemoResult:
    """Show progress until every bar is processed and every signal's order final; then collect the numbers.

    Everything comes from outside the services: the strategy's and the engine's ``/health`` metrics, the
    signals and order updates the observer saw on the bus, the broker's account.
    """
    engine, strategy = services[-3:-1] if publisher is not None else services[-2:]
    broker = services[0]
    deadline = started + config.timeout
    settled_since: float | None = None
    feed_stopped: float | None = None
    # Equity samples for the chart; Alpaca paper allows 200 requests a minute, the mock has no limit.
    sample_every = 0.25 if broker is not engine else 2.0
    equity_curve: list[tuple[float, float]] = []
    next_sample = 0.0
    while True:
        for service in {broker, engine, strategy}:
            if service.returncode() is not None:
                raise service.died()
        observer.raise_errors()
        metrics = strategy.metrics()
        bars = int(metrics.get("bars", "0"))
        # --topology proxy: both strategies' signals are on the bus
        signals = int(metrics.get("signals", "0")) + sum(
            int(s.metrics().get("signals", "0")) for s in services if s.name == SECOND_STRATEGY
        )
        if clock is not None:
            clock.raise_errors()
            if publisher is not None and publisher.returncode() is not None:
                raise publisher.died()
            published = 0 if clock.finished else None
        elif publisher is None:
            raise RuntimeError("a replay without its feed")  # never: --replay always has one
        elif config.market == "stream":
            # A live feed has no end: once the strategy has seen its bars, the demo ends it.
            if feed_stopped is None and publisher.returncode() is not None:
                raise publisher.died()
            if feed_stopped is None and bars >= config.total_bars:
                publisher.stop(grace=5)
                feed_stopped = time.monotonic()
            published = None if feed_stopped is None else 0
        else:
            published = publisher.returncode()
            if published not in (None, 0):
                raise publisher.died()
        progress.show(bars, metrics)
        engine_metrics = engine.metrics()
        if time.monotonic() >= next_sample:
            next_sample = time.monotonic() + sample_every
            with contextlib.suppress(TradebridgeError, OSError):  # a sample for a chart: skip a bad one
                equity = decimal_float(alpaca.get_account_info().equity)
                equity_curve.append((round(time.monotonic() - started, 3), equity))
        seen = observer.signals()
        done = (
            published == 0
            and bars >= config.total_bars
            and signals == len(seen)
            and all(s.final for s in seen)
            and engine_metrics.get("orders_open") == "0"
        )
        # Settled = done on two consecutive looks, so a signal in flight between the services is not missed.
        if done:
            if settled_since is not None and time.monotonic() - settled_since > 0.3:
                break
            settled_since = settled_since or time.monotonic()
        else:
            settled_since = None
        if time.monotonic() > deadline:
            raise ServiceError(
                "not_ready",
                "demo",
                f"the run did not finish within {config.timeout:.0f}s: {bars}/{config.total_bars} bars, "
                f"{signals} signals published, {len(seen)} seen, "
                f"{sum(not s.final for s in seen)} without a final order update, "
                f"{engine_metrics.get('orders_open', '?')} orders open",
            )
        time.sleep(0.1)

    engine_final = engine.metrics()
    strategy_final = strategy.metrics()
    # --topology proxy: the second strategy's signals count as published too
    more_signals = sum(int(s.metrics().get("signals", "0")) for s in services if s.name == SECOND_STRATEGY)
    features = histogram_summary(_metrics_page(strategy), "features")
    code = strategy.stop(grace=10)
    if code != 0:
        raise strategy.died()
    # The upstream event of each signal: the send time of its bar (the envelope's `sent_at_us`, stamped by
    # the mock publisher or the market-data service).
    flow = observed_flow(observer.signals(), observer.bar_times())
    flow.update(
        bars=int(strategy_final.get("bars", "0")),
        signals=int(strategy_final.get("signals", "0")) + more_signals,
        features_latency=features,
        equity_curve=equity_curve,
        order_updates=observer.order_updates,
        unmatched_updates=observer.unmatched_updates(),
    )

    account = alpaca.get_account_info()
    metrics_now = alpaca.get_portfolio_metrics()
    orders = [
        BrokerOrder(
            id=str(o.id),
            client_order_id=o.client_order_id,
            symbol=o.symbol,
            side=str(o.side),
            status=str(o.status),
            filled_qty=decimal_float(o.filled_qty),
            filled_avg_price=None if o.filled_avg_price is None else float(o.filled_avg_price),
            filled_at_ns=None if o.filled_at is None else int(o.filled_at.timestamp() * 1e6) * 1000,
        )
        for o in alpaca.get_orders(status="all", limit=500)
        # this run's orders only (a second strategy's ids are tb-<run_id>b-...)
        if o.client_order_id.startswith((f"tb-{run_id}-", f"tb-{run_id}b-"))
    ]
    positions = {p.symbol: float(p.qty) for p in alpaca.get_positions()}
    # A deterministic run's broker stamps fills with the bars' time, not the wall clock: no hop to measure.
    if not config.deterministic:
        flow["latency_ms"]["fill_seen"] = fill_seen_ms(observer.signals(), orders)
    return DemoResult(
        config={
            "bars_per_symbol": config.bars,
            "symbols": list(config.symbols),
            "seed": config.seed,
            "rate": config.rate,
            "threshold": config.threshold,
            "max_position": config.max_position,
            "max_notional": config.max_notional,
            "max_orders_per_sec": config.max_orders_per_sec,
            "market": config.market,
            "run_id": run_id,
        },
        flow=flow,
        engine=engine_final,
        orders=orders,
        positions=positions,
        positions_start={},
        equity_start=0.0,
        equity_end=decimal_float(account.equity),
        unrealized_pl=decimal_float(metrics_now.total_pl),
        duration_s=time.monotonic() - started,
    )


def _metrics_page(service: Service) -> str:
    """A service's ``/metrics`` text (Prometheus format)."""
    with urllib.request.urlopen(service.health_url + "/metrics", timeout=5) as response:
        return str(response.read().decode())
