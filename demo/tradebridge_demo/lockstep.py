"""Deterministic runs (``tradebridge demo --deterministic``, the default): the market waits for the flow.

Four processes race on their own: a bar reaches the strategy, the engine and the broker at moments the
machine decides, and a fill that depends on which of them came first differs from run to run. So a
deterministic run moves the market one step at a time and takes the next step only once the last one has
*settled*: the strategy has counted every bar so far (it publishes a bar's signal before it counts the bar),
the demo's observer has seen every signal it published, and each of them has its final order update (filled
or refused: the engine has folded the broker's answer into its book). Then nothing is in flight anywhere, and
what the next bar causes depends on the bars alone.

With the broker's clock driven by the bars (``--clock market``) and its fills at the quote standing when an
order arrives (``--fill-mode immediate``), an order made from bar k fills at bar k's close plus or minus the
half spread, stamped with bar k's end, whatever the machine's speed. The engine counts its order rate in
market time (``--rate-clock market``: the signals carry their bar's timestamp) and sends through one worker,
so its verdicts and the broker's order ids (drawn from the seeded generator in arrival order) come in the
signals' order.

:class:`CaptureFeed` is the market of ``--replay FILE``: the capture's market frames, published byte for byte
one step at a time, first to the broker (whose price must have moved before an order made from the bar can
reach it), then to the engine, the strategy and the observer, as the live run's market reaches them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import zmq
from tradebridge.capture import CaptureError, list_segments
from tradebridge.capture.format import open_segment
from tradebridge.contracts import BarUpdate, decode_frame
from tradebridge.errors import ContractError
from tradebridge.testing import Service, ServiceError

from tradebridge_demo.observer import BusObserver

__all__ = ["CaptureFeed", "MarketSteps", "Settle", "first_ready", "market_capture", "read_market_steps"]

#: how often the settle checks poll the services (a step usually settles in a few ms)
_POLL_S = 0.002


class Settle:
    """``settle(n)``: block until the flow has settled after ``n`` bars (see the module docstring)."""

    def __init__(self, strategies: list[Service], observer: BusObserver, timeout: float = 30.0) -> None:
        self.strategies = strategies
        self.observer = observer
        self.timeout = timeout
        #: steps waited for, and the time spent waiting (the report shows what lockstep costs)
        self.steps = 0
        self.waited_s = 0.0
        #: set when the demo stops: a wait in progress gives up at once
        self.aborted = threading.Event()

    def __call__(self, bars: int) -> None:
        started = time.monotonic()
        deadline = started + self.timeout
        while not self.settled(bars):
            if self.aborted.is_set():
                raise ServiceError("not_ready", "demo", "stopped while waiting for the flow to settle")
            for strategy in self.strategies:
                if strategy.returncode() is not None:
                    raise strategy.died()
            self.observer.raise_errors()
            if time.monotonic() > deadline:
                seen = self.observer.signals()
                raise ServiceError(
                    "not_ready",
                    "demo",
                    f"the flow did not settle after {bars} bars within {self.timeout:g}s: "
                    f"{sum(self._count(s, 'bars') for s in self.strategies)} bars counted by the strategy, "
                    f"{len(seen)} signals seen, {sum(not s.final for s in seen)} without a final update",
                )
            time.sleep(_POLL_S)
        self.steps += 1
        self.waited_s += time.monotonic() - started

    @staticmethod
    def _count(strategy: Service, name: str) -> int:
        return int(strategy.metrics().get(name, "0"))

    def settled(self, bars: int) -> bool:
        published = 0
        for strategy in self.strategies:
            metrics = strategy.metrics()
            if int(metrics.get("bars", "0")) < bars:
                return False
            published += int(metrics.get("signals", "0"))
        seen = self.observer.signals()
        return published == len(seen) and all(s.final for s in seen)


@dataclass(frozen=True)
class MarketSteps:
    """A capture's market frames, one list per step (consecutive bars with the same timestamp)."""

    path: Path
    steps: list[list[bytes]]
    symbols: tuple[str, ...]

    @property
    def frames(self) -> int:
        return sum(len(step) for step in self.steps)

    @property
    def bars_per_symbol(self) -> int:
        return -(-self.frames // max(len(self.symbols), 1))


def market_capture(path: Path) -> Path:
    """The capture of ``path``: a capture file or folder, or a ``--record`` folder (its ``capture.parquet``,
    whose ``market`` frames are replayed)."""
    recorded = path / "capture.parquet"
    return recorded if path.is_dir() and recorded.is_file() else path


def read_market_steps(path: Path) -> MarketSteps:
    """Every ``market`` BarUpdate frame of a capture, in recorded order, grouped into steps. Raises
    :class:`CaptureError` (a damaged or foreign file, or no bar at all)."""
    source = market_capture(path)
    steps: list[list[bytes]] = []
    symbols: dict[str, None] = {}
    last_time: int | None = None
    for segment_path in list_segments(source):
        segment = open_segment(segment_path)
        for table in segment.iter_row_groups(["topic", "payload"]):
            topics = table.column("topic").to_pylist()
            payloads = table.column("payload").to_pylist()
            for topic, payload in zip(topics, payloads, strict=True):
                if topic != "market":
                    continue
                try:
                    _, message = decode_frame(payload)
                except ContractError:
                    continue  # replayed as recorded elsewhere; a bar the services cannot read moves nothing
                if not isinstance(message, BarUpdate):
                    continue
                if message.timestamp != last_time or not steps:
                    steps.append([])
                    last_time = message.timestamp
                steps[-1].append(payload)
                symbols.setdefault(message.symbol)
    if not steps:
        raise CaptureError("empty", f"{source}: no market BarUpdate to replay", path=source)
    return MarketSteps(source, steps, tuple(symbols))


class CaptureFeed:
    """Publishes :class:`MarketSteps` in lockstep from a background thread: each step to ``first`` (the
    broker: ``first_ready(n)`` says when it took it), then to ``main`` (the engine, the strategy and the
    observer: ``settle(n)`` says when the flow settled). Both endpoints are bound here, at construction."""

    def __init__(
        self,
        steps: MarketSteps,
        first: str,
        main: str,
        first_subscribers: int,
        main_subscribers: int,
        first_ready: Callable[[int], None],
        settle: Callable[[int], None],
        subscriber_timeout: float = 30.0,
    ) -> None:
        self.steps = steps
        self._wanted = (first_subscribers, main_subscribers)
        self._first_ready, self._settle = first_ready, settle
        self._timeout = subscriber_timeout
        self._context = zmq.Context()
        self._sockets: list[zmq.Socket[bytes]] = []
        for endpoint in (first, main):
            # XPUB: its subscriptions can be counted, so no bar goes out before every subscriber is there
            socket = self._context.socket(zmq.XPUB)
            socket.setsockopt(zmq.LINGER, 1000)
            socket.setsockopt(zmq.SNDHWM, 0)
            socket.setsockopt(zmq.XPUB_VERBOSE, 1)  # every subscriber's subscription, not only the first
            socket.bind(endpoint)
            self._sockets.append(socket)
        self.published = 0
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-capture-feed", daemon=True)

    def start(self) -> CaptureFeed:
        self._thread.start()
        return self

    def _await_subscribers(self) -> bool:
        """Wait until each socket has its ``market`` subscribers; False when stopped meanwhile."""
        deadline = time.monotonic() + self._timeout
        for socket, wanted in zip(self._sockets, self._wanted, strict=True):
            count = 0
            while count < wanted:
                if self._stop.is_set():
                    return False
                if socket.poll(20) and socket.recv().startswith(b"\x01"):
                    count += 1
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{count} of {wanted} market subscribers after {self._timeout:g}s")
        return True

    def _run(self) -> None:
        first, main = self._sockets
        try:
            if not self._await_subscribers():
                return
            sent = 0
            for step in self.steps.steps:
                if self._stop.is_set():
                    return
                for frame in step:
                    first.send(frame)
                sent += len(step)
                self._first_ready(sent)
                for frame in step:
                    main.send(frame)
                self.published = sent
                self._settle(sent)
            self._done.set()
        except BaseException as exc:  # reported by raise_errors(): a stuck feed must not pass unnoticed
            self._error = exc

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def raise_errors(self) -> None:
        if self._error is not None:
            if isinstance(self._error, ServiceError):
                raise self._error
            raise ServiceError(
                "not_ready", "demo", f"the capture feed failed: {self._error}"
            ) from self._error

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(12)
        for socket in self._sockets:
            socket.close(0)
        self._context.term()


def first_ready(broker: Service, timeout: float = 30.0) -> Callable[[int], None]:
    """``ready(n)``: the broker has ``n`` bars in its price book (its health answers live, unlike the
    engine's, which refreshes its metrics on a period)."""

    def ready(bars: int) -> None:
        deadline = time.monotonic() + timeout
        while int(broker.metrics().get("broker_bars", "0")) < bars:
            if broker.returncode() is not None:
                raise broker.died()
            if time.monotonic() > deadline:
                raise ServiceError(
                    "not_ready", "demo", f"the broker did not take {bars} bars in {timeout:g}s"
                )
            time.sleep(_POLL_S)

    return ready
