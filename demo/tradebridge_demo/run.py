"""The demo's run: ports, processes, readiness, progress, collection, shutdown."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from types import FrameType

from tradebridge.alpaca import AlpacaPaperTrading, CredentialsRefusedError, resolve_credentials
from tradebridge.errors import TradebridgeError
from tradebridge.testing import Service, ServiceError, free_port, is_ready, rust_binary

from tradebridge_demo.config import DemoConfig
from tradebridge_demo.market import MarketClock
from tradebridge_demo.observer import BusObserver
from tradebridge_demo.report import (
    BrokerOrder,
    DemoResult,
    decimal_float,
    fill_seen_ms,
    histogram_summary,
    observed_flow,
    write_report,
)
from tradebridge_demo.topology import SECOND_STRATEGY, second_strategy, wiring

#: Any non-empty pair works with the mock broker; real credentials are never sent to it.
MOCK_KEY = "tradebridge-demo"

#: Credential variables never passed to services talking to the local mock broker.
CREDENTIAL_VARIABLES = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "ALPACA_API_KEY", "ALPACA_SECRET_KEY")

#: Alpaca's real-time IEX stock data (the streaming path with ``--broker-url`` Alpaca paper).
ALPACA_IEX_STREAM = "wss://stream.data.alpaca.markets/v2/iex"

#: ``examples/strategy.py``, shipped in this package: the demo runs the example, never a copy of it.
STRATEGY = files("tradebridge_demo") / "strategy.py"


def python_module(module: str, *args: str) -> list[str]:
    """argv running one of our Python entry points with this interpreter."""
    return [sys.executable, "-m", module, *args]


def scrubbed_environment() -> dict[str, str]:
    """This environment without broker credentials (the mock accepts any key; real ones stay home)."""
    return {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}


class Interrupted(Exception):
    """Ctrl-C or SIGTERM reached the demo."""


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM become :class:`Interrupted`, so cleanup runs whatever stops the demo."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


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


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(config: DemoConfig) -> int:
    """Run the flow; 0 when it completed consistently, 1 on a failure (said why), 130 on Ctrl-C."""
    started = time.monotonic()
    streaming = config.market == "stream"
    try:
        engine_binary = rust_binary("execution-engine")
        feed_binary = rust_binary("market-data") if streaming else None
    except FileNotFoundError as exc:
        _say(f"demo: {exc}")
        return 1
    report_dir = config.report_dir.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    log_dir = report_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tradebridge-demo-"))

    try:
        access = broker_access(config)
    except ValueError as exc:
        _say(f"demo: {exc}")
        return 1
    run_id = uuid.uuid4().hex[:8]
    host = "127.0.0.1"
    ports = {
        "broker": config.broker_port or free_port(),
        "market": config.market_port or free_port(),
        "signal": free_port(),
        "order": free_port(),
        **{f"{n}_health": free_port() for n in ("broker", "engine", "strategy", "feed")},
    }
    broker_url = access.url or f"http://{host}:{ports['broker']}"
    env = scrubbed_environment()
    # subscribers listen on market/signals/orders, publishers send to *_out (the same unless --topology proxy)
    wires = wiring(config.topology, host, ports, streaming=streaming, log_dir=log_dir, env=env)
    market, signals, orders = wires.market, wires.signals, wires.orders
    # The mock takes any key; a real broker gets the credentials (the engine only: it places the orders).
    keyed_env = {**env, "ALPACA_API_KEY": access.api_key, "ALPACA_SECRET_KEY": access.secret_key}

    # Streaming: the mock's own seeded walk makes the bars (one per symbol every len(symbols)/rate s) and
    # its market-data WebSocket carries them; synthetic: the broker follows the publisher's bars on the bus.
    market_source = (
        ["--bar-interval", "0", "--stream-interval", "0.01"]  # stepped by the demo's MarketClock
        if streaming
        else ["--market-endpoint", market, "--bar-interval", "0"]
    )
    clock: MarketClock | None = None
    broker = Service(
        "mock-broker",
        python_module(
            "tradebridge.cli", "mock-broker", "--host", host, "--port", str(ports["broker"]),
            "--seed", str(config.seed), "--symbols", *config.symbols,
            "--health-port", str(ports["broker_health"]), *market_source,
            "--fill-mode", "deferred", "--rate-limit", "0",
        ),
        health_port=ports["broker_health"], log_dir=log_dir, env=env,
    )  # fmt: skip
    engine = Service(
        "execution-engine",
        [
            str(engine_binary), "--signal-endpoint", signals, "--order-endpoint", wires.orders_out,
            *wires.engine_connect,
            "--market-endpoint", market, "--broker-url", broker_url,
            "--health-port", str(ports["engine_health"]),
            "--max-position", str(config.max_position), "--max-notional", str(config.max_notional),
            "--max-orders-per-sec", str(config.max_orders_per_sec),
            # The mock has no request limit: follow orders closely (the engine's default at Alpaca is 1 s);
            # the synthetic path keeps the poll alone, the streaming path hears fills on the trade stream.
            *([] if access.url else ["--poll-interval-ms", "20"]),
            *([] if streaming else ["--no-trade-stream"]),
            # After the last bar nothing can fill a resting order: the engine cancels it after 2 s.
            "--order-timeout-ms", "2000",
            # Accepted signals, one journal per run (restart safety, README "What survives what").
            "--journal", str(report_dir / "engine.journal"),
        ],
        health_port=ports["engine_health"], log_dir=log_dir, env=keyed_env,
    )  # fmt: skip
    strategy = Service(
        "strategy",
        [
            sys.executable, str(STRATEGY), "--market-endpoint", market,
            "--signal-endpoint", wires.signals_out, *wires.strategy_connect,
            "--order-endpoint", orders, "--symbols", ",".join(config.symbols),
            "--threshold", str(config.threshold), "--health-port", str(ports["strategy_health"]),
            "--run-id", run_id,
            # the engine and the demo's observer: both must hear the first signal (a proxy replays one
            # subscription per topic to a publisher that connects after them; it serves both)
            "--subscribers", "2" if wires.proxy is None else "1",
        ],
        health_port=ports["strategy_health"], log_dir=log_dir, env=env,
    )  # fmt: skip
    # Alpaca's real IEX feed for Alpaca paper; a loopback broker (ours, or a mock run by hand) streams its
    # own market, whose clock the demo steps.
    local_market = access.url is None or _is_loopback(access.url)
    if feed_binary is not None:
        stream_url = f"ws{broker_url.removeprefix('http')}/v2/iex" if local_market else ALPACA_IEX_STREAM
        publisher = Service(
            "market-data",
            [
                str(feed_binary), "--stream-url", stream_url, "--endpoint", wires.market_out,
                "--symbols", ",".join(config.symbols), "--channels", "bars",
                "--health-port", str(ports["feed_health"]), "--reconnect-min-ms", "100",
            ],
            health_port=ports["feed_health"], log_dir=log_dir, env=keyed_env,
        )  # fmt: skip
    else:
        publisher = Service(
            "mock-publisher",
            python_module(
                "tradebridge.cli", "mock-publisher", "--endpoint", wires.market_out, *wires.publisher_connect,
                "--symbols", ",".join(config.symbols),
                "--rate", str(config.rate), "--count", str(config.total_bars), "--seed", str(config.seed),
                # through a proxy the demo waits for the subscribers at the proxy instead; the demo's
                # observer is one of them (each bar's send time starts its signal's hops)
                "--wait-for-subscribers", "1" if wires.proxy else "3" if access.url else "4",
                "--health-port", str(ports["feed_health"]),
            ),
            health_port=ports["feed_health"], log_dir=log_dir, env=env,
        )  # fmt: skip
    services = [engine, strategy, publisher] if access.url else [broker, engine, strategy, publisher]
    extra: list[Service] = []
    if wires.proxy is not None:
        extra = [wires.proxy, second_strategy(strategy, run_id, config.threshold, log_dir, env)]
        services[-3:-3] = extra  # started in this order; _follow finds engine, strategy, publisher last
    progress = Progress(config.total_bars, config.progress)
    observer = BusObserver(signals, orders)
    code = 1
    try:
        with _interruptible(), observer:
            _say(
                f"tradebridge demo: {config.bars} bars x {len(config.symbols)} symbols "
                f"({', '.join(config.symbols)}), seed {config.seed}; logs in {log_dir}"
            )
            if wires.proxy is not None:
                wires.proxy.start()
                wires.proxy.wait(is_ready, "ready", 30)
                _say(f"  bus-proxy         ready  publishers -> {wires.signals_out}, subscribers <- {market}")
            if access.url:
                _say(f"  broker            {broker_url} (credentials: environment or {config.env_file})")
            else:
                broker.start()
                broker.wait(is_ready, "ready", 30)
                _say(f"  mock-broker       ready  {broker_url}")
            if streaming and local_market:
                # Bound before its subscribers connect (one that connects to a port nobody binds yet
                # retries on a growing backoff and would miss the first bars); no bar flows before the
                # market clock starts.
                publisher.start()
                publisher.wait(is_ready, "ready", 30)
            engine.start()
            engine.wait(is_ready, "ready", 30)
            _say(f"  execution-engine  ready  signals {signals} -> orders {orders}")
            strategy.start()
            strategy.wait(lambda s: s.metrics().get("bus_connected") == "true", "connected", 30)
            # Every subscription in place before the first bar: the strategy and the observer hear the
            # engine's order updates (the strategy itself waited for the engine and the observer).
            engine.wait(lambda s: int(s.metrics().get("order_subscribers", "0")) >= 2, "subscribed to", 10)
            _say(f"  strategy          connected (ready once its indicators are warm)  market {market}")
            for other in extra[1:]:
                other.start()
                other.wait(lambda s: s.metrics().get("bus_connected") == "true", "connected", 30)
                _say(f"  {other.name:<17} connected (threshold {config.threshold + 0.1:g})")
            if not streaming:
                # before the first bar: the publisher (or the demo, at the proxy) waits for this subscriber
                observer.watch_market(market)
            if wires.proxy is not None:
                # market subscribers at the proxy: the engine, both strategies (and the mock broker), and
                # with the synthetic market the demo's observer
                wanted = (3 if access.url or streaming else 4) + (not streaming)
                wires.proxy.wait(
                    lambda s: int(s.metrics().get("subscribers", "0")) >= wanted, "subscribed", 10
                )
            alpaca = AlpacaPaperTrading(access.api_key, access.secret_key, base_url=broker_url)
            equity_start = decimal_float(alpaca.get_account_info().equity)
            positions_start = {p.symbol: float(p.qty) for p in alpaca.get_positions()}
            if streaming:
                if not local_market:  # Alpaca's live feed: started last, once everything else runs
                    publisher.start()
                    publisher.wait(is_ready, "ready", 30)
                observer.watch_market(market)
                if local_market:  # the mock's market moves when the demo says (Alpaca's is live)
                    clock = MarketClock(broker_url, config.bars, len(config.symbols) / config.rate).start()
                _say(f"  market-data       streaming {config.bars} bars a symbol: {stream_url} -> {market}")
            else:
                publisher.start()
                _say(f"  mock-publisher    publishing {config.total_bars} bars at {config.rate:g}/s")
            result = _follow(config, services, observer, progress, started, alpaca, run_id, clock)
            result.equity_start = equity_start
            result.positions_start = positions_start
            progress.close()
            result.run_checks()
            print(result.render(), flush=True)
            files = write_report(result, report_dir)
            _say("\n  report: " + ", ".join(str(f) for f in files))
            code = 0 if all(c.ok for c in result.checks) else 1
    except Interrupted as exc:
        progress.close()
        _say(f"demo: interrupted ({exc}); stopping every service")
        code = 130
    except ServiceError as exc:
        progress.close()
        _say(f"demo: {exc}")
        code = 1
    except TradebridgeError as exc:  # the broker refused us (credentials, paper-only, unreachable)
        progress.close()
        _say(f"demo: broker at {broker_url}: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        # A second Ctrl-C must not cut the cleanup short (the services would still die with us, but
        # without closing their sockets cleanly).
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if clock is not None:
                clock.close()
            for service in reversed(services):
                service.stop()
            observer.close()
        finally:
            signal.signal(signal.SIGINT, previous)
            shutil.rmtree(work, ignore_errors=True)
    return code


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host == "localhost" or host == "::1" or host.startswith("127.")


@dataclass(frozen=True)
class BrokerAccess:
    url: str | None  # None: the demo starts the mock broker
    api_key: str
    secret_key: str

    def __repr__(self) -> str:
        return f"BrokerAccess(url={self.url!r}, api_key='***', secret_key='***')"


def broker_access(config: DemoConfig) -> BrokerAccess:
    """The mock (any key) or the broker at ``config.broker_url`` with credentials from the environment or
    the ``.env`` file; raises ValueError naming the variables when they are missing."""
    if config.broker_url is None:
        return BrokerAccess(None, MOCK_KEY, MOCK_KEY)
    try:
        found = resolve_credentials(env_file=config.env_file)
    except CredentialsRefusedError as exc:
        raise ValueError(f"--broker-url {config.broker_url} needs credentials: {exc}") from None
    return BrokerAccess(config.broker_url.rstrip("/"), found.api_key, found.secret_key)


def _follow(
    config: DemoConfig,
    services: list[Service],
    observer: BusObserver,
    progress: Progress,
    started: float,
    alpaca: AlpacaPaperTrading,
    run_id: str,
    clock: MarketClock | None,
) -> DemoResult:
    """Show progress until every bar is processed and every signal's order final; then collect the numbers.

    Everything comes from outside the services: the strategy's and the engine's ``/health`` metrics, the
    signals and order updates the observer saw on the bus, the broker's account.
    """
    engine, strategy, publisher = services[-3:]
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
            if publisher.returncode() is not None:
                raise publisher.died()
            published = 0 if clock.finished else None
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
