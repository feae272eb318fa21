"""Socket options of the bus, in one place, with the reasons for each default.

libzmq's own defaults suit neither side of a trading bus: an unbounded ``LINGER`` makes a process hang at
exit while a peer is gone, and a 1,000-message high-water mark drops market data in the first burst. These
defaults keep bursts, bound shutdown and let a subscriber find a restarted publisher quickly.
"""

from __future__ import annotations

from dataclasses import dataclass

import zmq

__all__ = ["BusOptions"]


@dataclass(frozen=True, slots=True)
class BusOptions:
    """How a publisher or subscriber socket is set up.

    - ``send_hwm`` / ``receive_hwm``: messages queued per peer before libzmq drops (PUB) or stops reading
      (SUB). 100,000 messages of about 150 bytes is about 15 MB per peer: a burst of one second at full
      speed survives a slow consumer, and a subscriber that falls further behind loses messages *visibly*
      (its ``stats.gaps``), instead of the publisher's memory growing without end. ``0`` means unbounded.
    - ``linger_ms``: how long closing waits to flush queued messages. Bounded, so an absent peer can never
      make ``close()`` or interpreter exit hang; the default of one second lets a publisher that exits right
      after its last ``publish`` still deliver it to connected subscribers. Subscribers close with no
      linger: all they ever send are (un)subscriptions, which a closing subscriber no longer needs.
    - ``reconnect_ivl_ms`` / ``reconnect_ivl_max_ms``: a connecting socket retries after 100 ms, backing
      off to 5 s, so a restarted publisher is found again within about a second without a retry storm.
    - ``conflate`` (subscribers only): keep only the newest message, for a subscriber that only wants the
      latest value. It applies to the whole socket, across topics and symbols, and sequence gaps are then
      expected, not loss.
    - ``tcp_keepalive``: detect a dead peer behind a silent network (default off, as libzmq).
    - ``max_message_bytes``: a subscriber refuses bigger frames unparsed and counts them (``too_large``
      in ``stats.malformed_by_code`` and ``stats.too_large``, so ``/metrics`` shows them; ``-1``: no
      limit). The default matches the contract's 1 MiB payload limit plus room for the topic.
    - ``hard_max_message_bytes``: libzmq's own ``MAXMSGSIZE``, far above the limit so an oversized frame
      is still read, refused and counted, while an absurd one cannot make us allocate without bound. A
      frame above it never reaches the SDK and is counted nowhere: libzmq takes it for a protocol error
      and closes the *connection* it came on, for good (a connecting subscriber does not reconnect to
      that peer; tests/bus/test_too_large.py pins this). ``-1``: no cap, for peers that must never be cut
      off whatever they send.
    - ``max_sources`` (subscribers only): how many ``(topic, source)`` streams the loss accounting
      follows; beyond that the least recently heard is forgotten and counted in
      ``stats.sources_evicted`` (see :mod:`tradebridge.bus.stats`).
    - ``startup_grace`` / ``startup_queue`` (publishers only): ZeroMQ drops what a publisher sends before
      a subscriber's subscription has arrived (the slow joiner), so the guide's "bind, publish at once,
      exit" would lose its message. For ``startup_grace`` seconds after connecting, until the first
      subscription arrives, a publisher *holds* its messages (at most ``startup_queue``; beyond that the
      oldest are dropped) and sends them in order as soon as a subscriber is there. Closing while
      messages are held waits for a subscriber for the rest of the grace, then sends or drops them.
      What the hold drops is counted in ``publisher.stats.dropped``. Once a subscriber has been seen the
      hold is over for good and adds nothing to ``publish``. ``startup_grace=0`` turns it off (plain
      ZeroMQ: no subscriber, no delivery). Three seconds covers a subscriber started alongside.
    - ``allow_nan_tokens`` (subscribers only): read the bare ``NaN``/``Infinity``/``-Infinity`` tokens
      that Python's ``json.dumps`` writes inside a signal's ``features`` (the guide's original publisher
      does, for warm-up features) as null, counted in ``stats.nan_tokens``. Off by default: such tokens
      are not JSON, and a refused frame (``invalid_json``) is counted and skipped. The ``SignalGenerated``
      alias of ``Signal`` is always read, and counted in ``stats.legacy``.
    """

    send_hwm: int = 100_000
    receive_hwm: int = 100_000
    linger_ms: int = 1_000
    reconnect_ivl_ms: int = 100
    reconnect_ivl_max_ms: int = 5_000
    conflate: bool = False
    tcp_keepalive: bool = False
    max_message_bytes: int = 1_048_576 + 64
    hard_max_message_bytes: int = 16 * 1_048_576
    max_sources: int = 4096
    startup_grace: float = 3.0
    startup_queue: int = 10_000
    allow_nan_tokens: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.startup_grace < float("inf"):
            raise ValueError(f"BusOptions.startup_grace must be >= 0 seconds, got {self.startup_grace}")
        if self.startup_queue < 0:
            raise ValueError(f"BusOptions.startup_queue must be >= 0, got {self.startup_queue}")
        for name in ("send_hwm", "receive_hwm", "linger_ms", "reconnect_ivl_ms", "reconnect_ivl_max_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"BusOptions.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_message_bytes", "hard_max_message_bytes"):
            if getattr(self, name) < -1 or getattr(self, name) == 0:
                raise ValueError(f"BusOptions.{name} must be > 0, or -1 for no limit")
        hard, limit = self.hard_max_message_bytes, self.max_message_bytes
        if hard != -1 and (limit == -1 or limit > hard):
            raise ValueError(
                f"BusOptions.hard_max_message_bytes ({hard}) must be at least max_message_bytes ({limit})"
            )
        if self.max_sources < 1:
            raise ValueError(f"BusOptions.max_sources must be >= 1, got {self.max_sources}")

    def apply(self, socket: zmq.Socket[bytes], *, receiving: bool) -> None:
        """Set the options on a fresh socket (before bind/connect, as libzmq requires for most of them)."""
        socket.setsockopt(zmq.LINGER, self.linger_ms)
        socket.setsockopt(zmq.SNDHWM, self.send_hwm)
        socket.setsockopt(zmq.RCVHWM, self.receive_hwm)
        socket.setsockopt(zmq.RECONNECT_IVL, self.reconnect_ivl_ms)
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, self.reconnect_ivl_max_ms)
        socket.setsockopt(zmq.MAXMSGSIZE, self.hard_max_message_bytes)
        if self.tcp_keepalive:
            socket.setsockopt(zmq.TCP_KEEPALIVE, 1)
        if self.conflate and receiving:
            socket.setsockopt(zmq.CONFLATE, 1)
