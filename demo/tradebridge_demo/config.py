"""What one demo run is asked to do (``tradebridge demo`` options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["DemoConfig"]


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
    #: ``stream``: the mock broker's (or Alpaca's) market-data WebSocket through the ``market-data`` service,
    #: the guide's path; ``synthetic``: the mock publisher straight onto the bus
    market: str = "stream"
    #: direct: each topic's publisher binds; proxy: everything connects to a bus-proxy, two strategies
    topology: str = "direct"
    #: the market waits for the flow at every step, the broker's clock is the bars', the engine counts market
    #: time: the same seed (or capture) gives the same signals, orders, fills and P&L (:mod:`.lockstep`)
    deterministic: bool = True
    #: keep the run's bus traffic here (``capture.parquet``, every topic) with a copy of the report
    record: Path | None = None
    #: run from this capture's market instead of the seeded walk
    replay: Path | None = None

    @property
    def total_bars(self) -> int:
        return self.bars * len(self.symbols)
