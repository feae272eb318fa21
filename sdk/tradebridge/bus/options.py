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
      after its last ``publish`` still deliver it to connected subscribers.
    - ``reconnect_ivl_ms`` / ``reconnect_ivl_max_ms``: a connecting socket retries after 100 ms, backing
      off to 5 s, so a restarted publisher is found again within about a second without a retry storm.
    - ``conflate`` (subscribers only): keep only the newest message, for a subscriber that only wants the
      latest value. It applies to the whole socket, across topics and symbols, and sequence gaps are then
      expected, not loss.
    - ``tcp_keepalive``: detect a dead peer behind a silent network (default off, as libzmq).
    - ``max_message_bytes``: libzmq refuses bigger frames before they are read (``-1``: no limit); the
      default matches the contract's 1 MiB payload limit plus room for the topic.
    """

    send_hwm: int = 100_000
    receive_hwm: int = 100_000
    linger_ms: int = 1_000
    reconnect_ivl_ms: int = 100
    reconnect_ivl_max_ms: int = 5_000
    conflate: bool = False
    tcp_keepalive: bool = False
    max_message_bytes: int = 1_048_576 + 64

    def __post_init__(self) -> None:
        for name in ("send_hwm", "receive_hwm", "linger_ms", "reconnect_ivl_ms", "reconnect_ivl_max_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"BusOptions.{name} must be >= 0, got {getattr(self, name)}")
        if self.max_message_bytes < -1 or self.max_message_bytes == 0:
            raise ValueError("BusOptions.max_message_bytes must be > 0, or -1 for no limit")

    def apply(self, socket: zmq.Socket[bytes], *, receiving: bool) -> None:
        """Set the options on a fresh socket (before bind/connect, as libzmq requires for most of them)."""
        socket.setsockopt(zmq.LINGER, self.linger_ms)
        socket.setsockopt(zmq.SNDHWM, self.send_hwm)
        socket.setsockopt(zmq.RCVHWM, self.receive_hwm)
        socket.setsockopt(zmq.RECONNECT_IVL, self.reconnect_ivl_ms)
        socket.setsockopt(zmq.RECONNECT_IVL_MAX, self.reconnect_ivl_max_ms)
        socket.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        if self.tcp_keepalive:
            socket.setsockopt(zmq.TCP_KEEPALIVE, 1)
        if self.conflate and receiving:
            socket.setsockopt(zmq.CONFLATE, 1)
