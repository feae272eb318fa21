"""The demo's view of the flow from the outside: the strategy's signals and the engine's order updates, as
any other subscriber on the bus sees them, each stamped with the wall clock when it arrived.

The demo never looks inside the strategy: a signal's outcome is the engine's ``OrderUpdate`` naming its
``signal_id``, and its latency hops are the gaps between the messages' envelope stamps (``sent_at_us``: when
each was put on the bus, by its sender's clock; one host, one clock), from the send time of the bar the
signal was made from (joined by :mod:`tradebridge_demo.report`). A v1.0 sender's message has no stamp: its
arrival here stands in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from tradebridge.bus.sync import ZMQSubscriber
from tradebridge.contracts import BarUpdate, OrderUpdate, Signal

__all__ = ["FINAL_STATUSES", "BusObserver", "SeenSignal"]

#: Order statuses after which an order never changes (Alpaca's).
FINAL_STATUSES = frozenset(
    {"filled", "canceled", "expired", "rejected", "replaced", "done_for_day", "stopped"}
)


@dataclass
class SeenSignal:
    """One signal seen on the bus and what its order updates said (times: wall-clock ns, each message's
    ``sent_at_us``, else its arrival here)."""

    signal_id: str
    symbol: str
    direction: str
    strength: float
    price: float | None
    #: the bar's bus envelope (publisher instance, per-topic seq), from the strategy's own notes in the
    #: signal's metadata: only the demo's measurement reads them, the engine never does
    bar_source: str | None
    bar_seq: int | None
    seen_ns: int
    #: the signal's own timestamp (ms): its bar's time when the strategy stamps market time
    timestamp: int | None = None
    ack_ns: int | None = None
    fill_ns: int | None = None
    status: str | None = None
    reason: str | None = None
    order_id: str | None = None
    qty: float | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    hops_ms: dict[str, float] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def apply(self, update: OrderUpdate, seen_ns: int) -> None:
        if self.ack_ns is None and update.status != "rejected":
            self.ack_ns = seen_ns  # the first update of a placed order: the broker acknowledged it
        if update.status == "filled" and self.fill_ns is None:
            self.fill_ns = seen_ns
        self.status = update.status
        self.order_id = update.order_id
        self.qty = update.qty
        self.filled_qty = update.filled_qty
        self.filled_avg_price = update.filled_avg_price
        if isinstance(update.reason, str):
            self.reason = update.reason

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if not k.endswith("_ns")}


def _sent_ns(message: Any, seen_ns: int) -> int:
    """The sender's envelope stamp in ns; the arrival here for a v1.0 sender's message. The stamp, not the
    arrival, because this observer's threads share one interpreter: an arrival can trail by a GIL switch."""
    sent = getattr(message, "sent_at_us", None)
    return sent * 1000 if isinstance(sent, int) and not isinstance(sent, bool) else seen_ns


class BusObserver:
    """Subscribes to the signal and order topics in two background threads (a ZeroMQ socket stays in the
    thread that made it) and keeps every signal with its outcome. Use as a context manager."""

    def __init__(self, signal_endpoint: str, order_endpoint: str) -> None:
        self._lock = threading.Lock()
        #: (bus source, seq) of each bar -> when it was sent (after :meth:`watch_market` only)
        self._bars: dict[tuple[str, int], int] = {}
        self._signals: dict[str, SeenSignal] = {}
        self._early: dict[str, list[tuple[OrderUpdate, int]]] = {}  # updates seen before their signal
        self.order_updates = 0
        self._unnamed = 0  # order updates naming no signal
        self._subscribers: list[ZMQSubscriber] = []
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self._endpoints = (
            (signal_endpoint, "signal", self._on_signal),
            (order_endpoint, "order", self._on_order),
        )

    def __enter__(self) -> BusObserver:
        for endpoint, topic, handler in self._endpoints:
            self._watch(endpoint, topic, handler)
        return self

    def watch_market(self, endpoint: str) -> None:
        """Also record when each bar was sent (each signal's upstream event). Called once the feed binds its
        endpoint, or before a publisher that waits for this subscriber: one that connected earlier would
        retry on a growing backoff and could miss the first bars."""
        self._watch(endpoint, "market", self._on_bar)

    def _watch(self, endpoint: str, topic: str, handler: Callable[[Any, int], None]) -> None:
        subscriber = ZMQSubscriber(endpoint)
        subscriber.connect([topic])  # connect here, so the subscription exists once we return
        self._subscribers.append(subscriber)
        thread = threading.Thread(
            target=self._receive, args=(subscriber, handler), name=f"demo-observer-{topic}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for subscriber in self._subscribers:
            subscriber.stop()
        for thread in self._threads:
            thread.join(5)
        self._threads.clear()

    def _receive(self, subscriber: ZMQSubscriber, handler: Callable[[Any, int], None]) -> None:
        # the socket was made on the caller's thread and is used only here from now on (a hand-over, which
        # ZeroMQ allows with a memory barrier: Thread.start is one); it is closed here too
        try:
            for _topic, message in subscriber.receive():
                handler(message, _sent_ns(message, time.time_ns()))
        except BaseException as exc:  # kept for raise_errors(): a dead observer must not pass unnoticed
            self._errors.append(exc)
        finally:
            subscriber.close()

    def _on_signal(self, message: Any, seen_ns: int) -> None:
        if not isinstance(message, Signal) or not isinstance(message.signal_id, str):
            return  # an id-less signal: no OrderUpdate can name it
        meta = message.metadata if isinstance(message.metadata, dict) else {}
        signal_id = message.signal_id
        source, seq, price = meta.get("bar_source"), meta.get("bar_seq"), message.price
        seen = SeenSignal(
            signal_id=signal_id,
            symbol=message.symbol,
            direction=message.direction,
            strength=message.strength,
            price=float(price) if isinstance(price, int | float) else None,
            bar_source=source if isinstance(source, str) else None,
            bar_seq=seq if isinstance(seq, int) else None,
            seen_ns=seen_ns,
            timestamp=message.timestamp,
        )
        with self._lock:
            self._signals[signal_id] = seen
            for update, at in self._early.pop(signal_id, []):
                seen.apply(update, at)

    def _on_order(self, message: Any, seen_ns: int) -> None:
        if not isinstance(message, OrderUpdate):
            return
        with self._lock:
            self.order_updates += 1
            if not isinstance(message.signal_id, str):
                self._unnamed += 1  # an id-less signal's update (or a v1.0 engine's): nothing to join
                return
            signal_id = message.signal_id
            seen = self._signals.get(signal_id)
            if seen is None:
                self._early.setdefault(signal_id, []).append((message, seen_ns))
            else:
                seen.apply(message, seen_ns)

    def _on_bar(self, message: Any, seen_ns: int) -> None:
        if (
            isinstance(message, BarUpdate)
            and isinstance(message.source, str)
            and isinstance(message.seq, int)
        ):
            with self._lock:
                self._bars[(message.source, message.seq)] = seen_ns

    def bar_times(self) -> dict[tuple[str, int], int]:
        """When each bar was put on the bus, by its envelope: the upstream event of each signal."""
        with self._lock:
            return dict(self._bars)

    def raise_errors(self) -> None:
        if self._errors:
            raise RuntimeError(f"the demo's bus observer failed: {self._errors[0]!r}") from self._errors[0]

    def signals(self) -> list[SeenSignal]:
        with self._lock:
            return list(self._signals.values())

    def unmatched_updates(self) -> int:
        """Order updates for no signal seen: another strategy's orders (or a signal this observer missed)."""
        with self._lock:
            return self._unnamed + sum(len(v) for v in self._early.values())

    def pending(self) -> int:
        """Signals seen without a final order update yet."""
        with self._lock:
            return sum(not s.final for s in self._signals.values())
