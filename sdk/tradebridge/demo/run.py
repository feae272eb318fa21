"""The demo's run: ports, processes, readiness, progress, collection, shutdown."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tradebridge.alpaca import AlpacaPaperTrading
from tradebridge.demo.report import (
    BrokerOrder,
    DemoResult,
    decimal_float,
    join_publish_times,
    read_timing_log,
    write_report,
)
from tradebridge.demo.services import (
    CREDENTIAL_VARIABLES,
    Service,
    ServiceError,
    is_ready,
    python_module,
    scrubbed_environment,
)
from tradebridge.errors import TradebridgeError
from tradebridge.testing import free_port, rust_binary

#: Any non-empty pair works with the mock broker; real credentials are never sent to it.
MOCK_KEY = "tradebridge-demo"


@dataclass(frozen=True)
class DemoConfig:
    bars: int = 300
    symbols: tuple[str, ...] = ("AAPL", "MSFT", "GOOGL")
    seed: int = 7
    report_dir: Path = Path("reports/demo")
    rate: float = 100.0
    threshold: float = 0.5
    max_position: float = 30.0
    max_notional: float = 20_000.0
    max_orders_per_sec: int = 5
    timeout: float = 120.0
    broker_port: int = 0
    market_port: int = 0
    progress: bool = True
    #: An Alpaca-compatible broker already running (Alpaca paper, or a loopback URL); None = start the mock.
    broker_url: str | None = None
    env_file: Path = Path(".env")

    @property
    def total_bars(self) -> int:
        return self.bars * len(self.symbols)


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
    try:
        engine_binary = rust_binary("execution-engine")
    except FileNotFoundError as exc:
        _say(f"demo: {exc}")
        return 1
    report_dir = config.report_dir.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    log_dir = report_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tradebridge-demo-"))
    strategy_report = work / "strategy.json"
    timing_log = work / "publisher-timing.csv"  # when each bar was sent: the start of the first hop

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
        **{f"{n}_health": free_port() for n in ("broker", "engine", "strategy", "publisher")},
    }
    broker_url = access.url or f"http://{host}:{ports['broker']}"
    market = f"tcp://{host}:{ports['market']}"
    signals = f"tcp://{host}:{ports['signal']}"
    orders = f"tcp://{host}:{ports['order']}"
    env = scrubbed_environment()
    # The mock takes any key; a real broker gets the credentials (engine and strategy only).
    keyed_env = {**env, "ALPACA_API_KEY": access.api_key, "ALPACA_SECRET_KEY": access.secret_key}

    broker = Service(
        "mock-broker",
        python_module(
            "tradebridge.cli", "mock-broker", "--host", host, "--port", str(ports["broker"]),
            "--seed", str(config.seed), "--symbols", *config.symbols,
            "--health-port", str(ports["broker_health"]), "--market-endpoint", market,
            "--fill-mode", "deferred", "--rate-limit", "0",
        ),
        health_port=ports["broker_health"], log_dir=log_dir, env=env,
    )  # fmt: skip
    engine = Service(
        "execution-engine",
        [
            str(engine_binary), "--signal-endpoint", signals, "--order-endpoint", orders,
            "--market-endpoint", market, "--broker-url", broker_url,
            "--health-port", str(ports["engine_health"]),
            "--max-position", str(config.max_position), "--max-notional", str(config.max_notional),
            "--max-orders-per-sec", str(config.max_orders_per_sec),
            # The mock has no request limit: follow orders closely (the engine's default at Alpaca is 1 s).
            *([] if access.url else ["--poll-interval-ms", "20"]),
            # After the last bar nothing can fill a resting order: the engine cancels it after 2 s.
            "--order-timeout-ms", "2000",
        ],
        health_port=ports["engine_health"], log_dir=log_dir, env=keyed_env,
    )  # fmt: skip
    strategy = Service(
        "strategy",
        python_module(
            "tradebridge.demo.strategy", "--market-endpoint", market, "--signal-endpoint", signals,
            "--order-endpoint", orders, "--broker-url", broker_url, "--symbols", ",".join(config.symbols),
            "--threshold", str(config.threshold), "--health-port", str(ports["strategy_health"]),
            "--report-file", str(strategy_report), "--portfolio-interval", "0.25", "--run-id", run_id,
        ),
        health_port=ports["strategy_health"], log_dir=log_dir, env=keyed_env,
    )  # fmt: skip
    publisher = Service(
        "mock-publisher",
        python_module(
            "tradebridge.cli", "mock-publisher", "--endpoint", market, "--symbols", ",".join(config.symbols),
            "--rate", str(config.rate), "--count", str(config.total_bars), "--seed", str(config.seed),
            "--wait-for-subscribers", "2" if access.url else "3",
            "--health-port", str(ports["publisher_health"]), "--timing-log", str(timing_log),
        ),
        health_port=ports["publisher_health"], log_dir=log_dir, env=env,
    )  # fmt: skip
    services = [engine, strategy, publisher] if access.url else [broker, engine, strategy, publisher]
    progress = Progress(config.total_bars, config.progress)
    code = 1
    try:
        with _interruptible():
            _say(
                f"tradebridge demo: {config.bars} bars x {len(config.symbols)} symbols "
                f"({', '.join(config.symbols)}), seed {config.seed}; logs in {log_dir}"
            )
            if access.url:
                _say(f"  broker            {broker_url} (credentials: environment or {config.env_file})")
            else:
                broker.start()
                broker.wait(is_ready, "ready", 30)
                _say(f"  mock-broker       ready  {broker_url}")
            engine.start()
            engine.wait(is_ready, "ready", 30)
            _say(f"  execution-engine  ready  signals {signals} -> orders {orders}")
            strategy.start()
            strategy.wait(lambda s: s.metrics().get("bus_connected") == "true", "connected", 30)
            # Both directions subscribed before the first bar: the engine sees the strategy's order feed.
            engine.wait(lambda s: int(s.metrics().get("order_subscribers", "0")) >= 1, "subscribed to", 10)
            _say(f"  strategy          connected (ready once its indicators are warm)  market {market}")
            alpaca = AlpacaPaperTrading(access.api_key, access.secret_key, base_url=broker_url)
            equity_start = decimal_float(alpaca.get_account_info().equity)
            positions_start = {p.symbol: float(p.qty) for p in alpaca.get_positions()}
            publisher.start()
            _say(f"  mock-publisher    publishing {config.total_bars} bars at {config.rate:g}/s")
            result = _follow(
                config, services, progress, started, (strategy_report, timing_log), alpaca, run_id
            )
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
            for service in reversed(services):
                service.stop()
        finally:
            signal.signal(signal.SIGINT, previous)
            shutil.rmtree(work, ignore_errors=True)
    return code


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
    from dotenv import dotenv_values

    found = {k: v for k, v in dotenv_values(config.env_file).items() if v} if config.env_file.exists() else {}
    found.update({k: v for k, v in os.environ.items() if k in CREDENTIAL_VARIABLES and v})
    for key_name, secret_name in (
        ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"),
        ("ALPACA_API_KEY", "ALPACA_SECRET_KEY"),
    ):
        if found.get(key_name) and found.get(secret_name):
            return BrokerAccess(config.broker_url.rstrip("/"), found[key_name], found[secret_name])
    raise ValueError(
        f"--broker-url {config.broker_url} needs credentials: set ALPACA_API_KEY and ALPACA_SECRET_KEY "
        f"(or APCA_API_KEY_ID and APCA_API_SECRET_KEY) in the environment or in {config.env_file}"
    )


def _follow(
    config: DemoConfig,
    services: list[Service],
    progress: Progress,
    started: float,
    reports: tuple[Path, Path],
    alpaca: AlpacaPaperTrading,
    run_id: str,
) -> DemoResult:
    """Show progress until every bar is processed and every order final; then collect the numbers."""
    engine, strategy, publisher = services[-3:]
    broker = services[0]
    deadline = started + config.timeout
    settled_since: float | None = None
    while True:
        for service in {broker, engine, strategy}:
            if service.returncode() is not None:
                raise service.died()
        published = publisher.returncode()
        if published not in (None, 0):
            raise publisher.died()
        metrics = strategy.metrics()
        bars = int(metrics.get("bars", "0"))
        progress.show(bars, metrics)
        engine_metrics = engine.metrics()
        done = (
            published == 0
            and bars >= config.total_bars
            and metrics.get("pending_signals") == "0"
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
                f"the run did not finish within {config.timeout:.0f}s: {bars}/{config.total_bars} bars, "
                f"{metrics.get('pending_signals', '?')} signals pending, "
                f"{engine_metrics.get('orders_open', '?')} orders open"
            )
        time.sleep(0.1)

    strategy_report, timing_log = reports
    engine_final = engine.metrics()
    code = strategy.stop(grace=10)
    if code != 0 or not strategy_report.exists():
        raise strategy.died()
    # The publisher has exited 0 (checked above), so its timing log is complete.
    strategy_data = join_publish_times(json.loads(strategy_report.read_text()), read_timing_log(timing_log))

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
        )
        for o in alpaca.get_orders(status="all", limit=500)
        if o.client_order_id.startswith(f"tb-{run_id}-")  # this run's orders only
    ]
    positions = {p.symbol: float(p.qty) for p in alpaca.get_positions()}
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
        },
        strategy=strategy_data,
        engine=engine_final,
        orders=orders,
        positions=positions,
        positions_start={},
        equity_start=0.0,
        equity_end=decimal_float(account.equity),
        unrealized_pl=decimal_float(metrics_now.total_pl),
        duration_s=time.monotonic() - started,
    )
