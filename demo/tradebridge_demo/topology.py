"""``tradebridge demo --topology proxy``: the same flow with every service connecting to one ``bus-proxy``
(libzmq's XSUB/XPUB proxy) and a second strategy trading beside the first (docs/deploy.md, "One proxy").

Who binds and who connects: the proxy binds its frontend (publishers connect: the mock publisher, both
strategies' signals, the engine's order updates) and its backend (subscribers connect: the engine, the
strategies, the mock broker, the demo's observer). ``market-data`` can only bind, so the proxy's frontend
also connects to it (``--frontend-connect``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tradebridge.testing import Service, free_port, rust_binary

__all__ = ["SECOND_STRATEGY", "Wiring", "second_strategy", "wiring"]

#: the service name of the second strategy (its metrics are added to the first one's)
SECOND_STRATEGY = "strategy-2"


@dataclass
class Wiring:
    """Per topic, where publishers send (``*_out``) and where subscribers listen."""

    market: str
    signals: str
    orders: str
    market_out: str
    signals_out: str
    orders_out: str
    proxy: Service | None = None
    #: flags that make each publisher connect instead of bind
    publisher_connect: list[str] = field(default_factory=list)
    strategy_connect: list[str] = field(default_factory=list)
    engine_connect: list[str] = field(default_factory=list)


def wiring(
    topology: str,
    host: str,
    ports: Mapping[str, int],
    *,
    streaming: bool,
    log_dir: Path,
    env: Mapping[str, str],
) -> Wiring:
    market, signals, orders = (f"tcp://{host}:{ports[name]}" for name in ("market", "signal", "order"))
    if topology == "direct":
        return Wiring(market, signals, orders, market, signals, orders)
    frontend, backend = f"tcp://{host}:{free_port()}", f"tcp://{host}:{free_port()}"
    health = free_port()
    argv = [str(rust_binary("bus-proxy")), "--frontend", frontend, "--backend", backend]
    argv += ["--health-port", str(health)]
    if streaming:
        argv += ["--frontend-connect", market]  # market-data binds its endpoint
    proxy = Service("bus-proxy", argv, health_port=health, log_dir=log_dir, env=dict(env))
    return Wiring(
        market=backend,
        signals=backend,
        orders=backend,
        market_out=market if streaming else frontend,
        signals_out=frontend,
        orders_out=frontend,
        proxy=proxy,
        publisher_connect=[] if streaming else ["--connect"],
        strategy_connect=["--signal-connect"],
        engine_connect=["--order-connect"],
    )


def second_strategy(
    first: Service, run_id: str, threshold: float, log_dir: Path, env: Mapping[str, str]
) -> Service:
    """The first strategy's command with its own run id (so its signal and order ids differ), a slightly
    higher threshold (so it is not a copy), and its own health port."""
    argv = list(first.argv)
    health = free_port()
    argv[argv.index("--run-id") + 1] = f"{run_id}b"
    argv[argv.index("--threshold") + 1] = str(min(0.95, threshold + 0.1))
    argv[argv.index("--health-port") + 1] = str(health)
    return Service(SECOND_STRATEGY, argv, health_port=health, log_dir=log_dir, env=dict(env))
