"""The demo's run: ports, processes, readiness, progress, collection, shutdown."""

from __future__ import annotations

import contextlib
import dataclasses
import json
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
from tradebridge.capture import CaptureError, Recorder
from tradebridge.errors import TradebridgeError
from tradebridge.testing import Service, ServiceError, free_port, is_ready, rust_binary

from tradebridge_demo.config import DemoConfig
from tradebridge_demo.follow import Progress, follow, say
from tradebridge_demo.lockstep import CaptureFeed, MarketSteps, Settle, first_ready, read_market_steps
from tradebridge_demo.market import MarketClock
from tradebridge_demo.observer import BusObserver
from tradebridge_demo.recording import finish_recording, start_recording
from tradebridge_demo.report import (
    decimal_float,
    write_report,
)
from tradebridge_demo.topology import second_strategy, wiring

#: Any non-empty pair works with the mock broker; real credentials are never sent to it.
MOCK_KEY = "tradebridge-demo"

#: Credential variables never passed to services talking to the local mock broker.
CREDENTIAL_VARIABLES = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "ALPACA_API_KEY", "ALPACA_SECRET_KEY")

#: Alpaca's real-time IEX stock data (the streaming path with ``--broker-url`` Alpaca paper).
ALPACA_IEX_STREAM = "wss://stream.data.alpaca.markets/v2/iex"

#: A deterministic run's signals carry their bar's time, which a wall clock finds old: the engine's staleness
#: check (a guard against a stuck strategy, on the wall clock) is set beyond any capture's age.
MARKET_TIME_MAX_AGE_MS = 100 * 365 * 86_400_000

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


def run_demo(config: DemoConfig) -> int:
    """Run the flow; 0 when it completed consistently, 1 on a failure (said why), 130 on Ctrl-C."""
    started = time.monotonic()
    steps: MarketSteps | None = None
    if config.replay is not None:
        try:
            steps = read_market_steps(config.replay)
        except CaptureError as exc:
            say(f"demo: --replay {config.replay}: {exc}")
            return 1
        if steps.frames % len(steps.symbols):
            say(f"demo: --replay {steps.path}: {steps.frames} bars do not split evenly over {steps.symbols}")
            return 1
        config = dataclasses.replace(
            config,
            symbols=steps.symbols,
            bars=steps.bars_per_symbol,
            seed=_recorded_seed(config.replay, config.seed),
        )
    streaming = config.market == "stream" and steps is None
    lockstep = config.deterministic or steps is not None
    try:
        engine_binary = rust_binary("execution-engine")
        feed_binary = rust_binary("market-data") if streaming else None
    except FileNotFoundError as exc:
        say(f"demo: {exc}")
        return 1
    report_dir = config.report_dir.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    log_dir = report_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tradebridge-demo-"))

    try:
        access = broker_access(config)
    except ValueError as exc:
        say(f"demo: {exc}")
        return 1
    run_id = uuid.uuid4().hex[:8]
    host = "127.0.0.1"
    ports = {
        "broker": config.broker_port or free_port(),
        "market": config.market_port or free_port(),
        "signal": free_port(),
        "order": free_port(),
        **{f"{n}_health": free_port() for n in ("broker", "engine", "strategy", "feed")},
        # a replay's bars reach the broker here first (lockstep.CaptureFeed)
        "first": free_port(),
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
    first = f"tcp://{host}:{ports['first']}"
    # Stepped by the demo's MarketClock; in lockstep each step waits for the stream's next tick: a short one.
    tick = "0.002" if config.deterministic else "0.01"
    market_source = (
        ["--bar-interval", "0", "--stream-interval", tick]
        if streaming
        else ["--market-endpoint", first if steps else market, "--bar-interval", "0"]
    )
    # Lockstep: the bars drive the broker's clock, and an order fills at the quote standing when it arrives
    # (the market waits for it). Otherwise Alpaca paper's way: at the next price, on the wall clock.
    fills = ["--fill-mode", "immediate", "--clock", "market"] if lockstep else ["--fill-mode", "deferred"]
    clock: MarketClock | CaptureFeed | None = None
    broker = Service(
        "mock-broker",
        python_module(
            "tradebridge.cli", "mock-broker", "--host", host, "--port", str(ports["broker"]),
            "--seed", str(config.seed), "--symbols", *config.symbols,
            "--health-port", str(ports["broker_health"]), *market_source, *fills, "--rate-limit", "0",
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
            # market time, one sender: the same signals get the same verdicts, in their order
            *(["--rate-clock", "market", "--submit-workers", "1",
                "--max-signal-age-ms", str(MARKET_TIME_MAX_AGE_MS)] if lockstep else []),
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
            # the engine and the demo's observer (and the recorder): all must hear the first signal (a
            # proxy replays one subscription per topic to a publisher that connects after them)
            "--subscribers", str(2 + bool(config.record)) if wires.proxy is None else "1",
            *(["--signal-time", "bar"] if lockstep else []),
        ],
        health_port=ports["strategy_health"], log_dir=log_dir, env=env,
    )  # fmt: skip
    # Alpaca's real IEX feed for Alpaca paper; a loopback broker (ours, or a mock run by hand) streams its
    # own market, whose clock the demo steps.
    local_market = access.url is None or _is_loopback(access.url)
    publisher: Service | None
    if steps is not None:
        publisher = None  # the demo publishes the capture itself (lockstep.CaptureFeed)
    elif feed_binary is not None:
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
    services = [engine, strategy] if access.url else [broker, engine, strategy]
    if publisher is not None:
        services.append(publisher)
    extra: list[Service] = []
    if wires.proxy is not None:
        extra = [wires.proxy, second_strategy(strategy, run_id, config.threshold, log_dir, env)]
        services[-3:-3] = extra  # started in this order; _follow finds engine, strategy, publisher last
    progress = Progress(config.total_bars, config.progress)
    observer = BusObserver(signals, orders)
    settle = Settle([strategy], observer)
    recorder: Recorder | None = None
    code = 1
    try:
        with _interruptible(), observer:
            market_name = f"replay of {steps.path}" if steps else f"seed {config.seed}"
            say(
                f"tradebridge demo: {config.bars} bars x {len(config.symbols)} symbols "
                f"({', '.join(config.symbols)}), {market_name}, "
                f"{'deterministic' if lockstep else 'not deterministic'}; logs in {log_dir}"
            )
            if wires.proxy is not None:
                wires.proxy.start()
                wires.proxy.wait(is_ready, "ready", 30)
                say(f"  bus-proxy         ready  publishers -> {wires.signals_out}, subscribers <- {market}")
            if access.url:
                say(f"  broker            {broker_url} (credentials: environment or {config.env_file})")
            else:
                broker.start()
                broker.wait(is_ready, "ready", 30)
                say(f"  mock-broker       ready  {broker_url}")
            if streaming and local_market and publisher is not None:
                # Bound before its subscribers connect (one that connects to a port nobody binds yet
                # retries on a growing backoff and would miss the first bars); no bar flows before the
                # market clock starts.
                publisher.start()
                publisher.wait(is_ready, "ready", 30)
            if steps is not None:
                # bound now, like a feed; publishes once the broker (first), the engine, the strategy, the
                # observer and the recorder (main) subscribed
                clock = CaptureFeed(
                    steps, first, market, 1, 3 + bool(config.record), first_ready(broker), settle,
                )  # fmt: skip
            if config.record is not None:
                recorder = start_recording(config.record, [market, signals, orders])
            engine.start()
            engine.wait(is_ready, "ready", 30)
            say(f"  execution-engine  ready  signals {signals} -> orders {orders}")
            strategy.start()
            strategy.wait(lambda s: s.metrics().get("bus_connected") == "true", "connected", 30)
            # Every subscription in place before the first bar: the strategy and the observer hear the
            # engine's order updates (the strategy itself waited for the engine and the observer).
            wanted_orders = 2 + bool(config.record)
            engine.wait(
                lambda s: int(s.metrics().get("order_subscribers", "0")) >= wanted_orders, "subscribed to", 10
            )
            say(f"  strategy          connected (ready once its indicators are warm)  market {market}")
            for other in extra[1:]:
                other.start()
                other.wait(lambda s: s.metrics().get("bus_connected") == "true", "connected", 30)
                say(f"  {other.name:<17} connected (threshold {config.threshold + 0.1:g})")
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
            if isinstance(clock, CaptureFeed):
                observer.watch_market(market)
                clock.start()
                say(f"  capture           replaying {clock.steps.frames} bars in lockstep -> {market}")
            elif streaming and publisher is not None:
                if not local_market:  # Alpaca's live feed: started last, once everything else runs
                    publisher.start()
                    publisher.wait(is_ready, "ready", 30)
                observer.watch_market(market)
                if local_market:  # the mock's market moves when the demo says (Alpaca's is live)
                    clock = MarketClock(
                        broker_url, config.bars, len(config.symbols) / config.rate,
                        settle if lockstep else None, len(config.symbols),
                    ).start()  # fmt: skip
                say(f"  market-data       streaming {config.bars} bars a symbol: {stream_url} -> {market}")
            elif publisher is not None:
                publisher.start()
                say(f"  mock-publisher    publishing {config.total_bars} bars at {config.rate:g}/s")
            result = follow(config, services, observer, progress, started, alpaca, run_id, clock, publisher)
            result.equity_start = equity_start
            result.positions_start = positions_start
            result.config["deterministic"] = lockstep
            result.config["replay"] = None if steps is None else str(steps.path)
            progress.close()
            result.run_checks()
            print(result.render(), flush=True)
            files = write_report(result, report_dir)
            if recorder is not None and config.record is not None:
                files += finish_recording(recorder, config.record, files[0])
                recorder = None
            say("\n  report: " + ", ".join(str(f) for f in files))
            code = 0 if all(c.ok for c in result.checks) else 1
    except Interrupted as exc:
        progress.close()
        say(f"demo: interrupted ({exc}); stopping every service")
        code = 130
    except ServiceError as exc:
        progress.close()
        say(f"demo: {exc}")
        code = 1
    except CaptureError as exc:  # --record: the capture could not be written
        progress.close()
        say(f"demo: --record {config.record}: {exc}")
        code = 1
    except TradebridgeError as exc:  # the broker refused us (credentials, paper-only, unreachable)
        progress.close()
        say(f"demo: broker at {broker_url}: {type(exc).__name__}: {exc}")
        code = 1
    finally:
        # A second Ctrl-C must not cut the cleanup short (the services would still die with us, but
        # without closing their sockets cleanly).
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            settle.aborted.set()
            if clock is not None:
                clock.close()
            for service in reversed(services):
                service.stop()
            observer.close()
            if recorder is not None:  # a run that failed: what was recorded is kept
                recorder.stop()
                with contextlib.suppress(CaptureError, TimeoutError):
                    recorder.wait(10)
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


def _recorded_seed(replay: Path, default: int) -> int:
    """The seed of the run a ``--record`` folder holds (its report's copy): the broker draws its account and
    order ids from it, so a replay names its orders as the recorded run did."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return int(json.loads((replay / "report.json").read_text())["config"]["seed"])
    return default
