"""What the bus's two cores share: their errors, the topic table, attaching a socket (CURVE, bind or connect).

The asyncio classes (``tradebridge.bus``) and the blocking ones (``tradebridge.bus.sync``) are thin shells
over two cores, the way pyzmq's ``zmq.asyncio`` wraps ``zmq``: a core never waits, it only builds frames,
reads frames it is handed and does non-blocking socket work, so both shells share every rule. The
publisher's is :class:`tradebridge.bus._publisher.PublisherCore` (framing, numbering, the start-up hold,
subscriptions), the subscriber's :class:`tradebridge.bus._subscriber.SubscriberCore` (decoding, malformed
frames, stats).

Wire form v1 (DESIGN.md): one frame ``<topic> <json>``. The publisher writes the envelope fields ``seq``
(per topic, from 0), ``sent_at_us`` (v1.1: its wall clock in microseconds at framing) and ``source`` (this
instance's id) into every message it sends; a subscriber takes ``now - sent_at_us`` as the message's transit
(see :class:`tradebridge.bus.stats.TransitHistogram`). Across hosts that is only as good as their clock sync
(NTP: typically within a millisecond; PTP: microseconds); on one host it is exact.
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING, Any, Literal

import zmq

from tradebridge.bus._security import secure
from tradebridge.contracts import TOPICS, Heartbeat, MarketMessage, OrderUpdate, Signal
from tradebridge.errors import BusError

if TYPE_CHECKING:
    from tradebridge.bus._publisher import PublisherCore
    from tradebridge.bus._subscriber import SubscriberCore

__all__ = ["BusClosedError", "HealthStatusName", "SubscriberTimeoutError", "new_source_id"]

HealthStatusName = Literal["healthy", "degraded", "unhealthy"]

#: what each v1 topic carries (DESIGN.md section 1); checked against the contracts' own list at import
TOPIC_TYPES: dict[str, Any] = {
    "market": MarketMessage,
    "signal": Signal,
    "order": OrderUpdate,
    "system": Heartbeat,
}
if set(TOPIC_TYPES) != set(TOPICS):
    raise ImportError(f"tradebridge.bus knows topics {sorted(TOPIC_TYPES)}, the contracts {sorted(TOPICS)}")


class SubscriberTimeoutError(BusError, TimeoutError):
    """``wait_for_subscribers`` gave up before enough subscribers had subscribed."""


class BusClosedError(BusError):
    """The publisher or subscriber was closed (possibly by another thread) while, or before, being used."""


def new_source_id(prefix: str = "py") -> str:
    """A publisher instance id: readable (language, pid) and unique across restarts (random part)."""
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(4)}"


def _attach(socket: zmq.Socket[bytes], endpoint: str, bind: bool) -> str:
    """Bind or connect, turning libzmq's errors into one-line :class:`BusError` s; returns the endpoint.

    A bound ``tcp://host:*`` or ``:0`` resolves to the port the kernel picked, so tests can ask for one.
    """
    if bind and endpoint.startswith("tcp://") and endpoint.endswith(":0"):
        endpoint = endpoint[:-1] + "*"
    try:
        if bind:
            socket.bind(endpoint)
            resolved = socket.getsockopt(zmq.LAST_ENDPOINT)
            return resolved.decode() if isinstance(resolved, bytes) else str(resolved)
        socket.connect(endpoint)
        return endpoint
    except zmq.ZMQError as exc:
        verb = "bind" if bind else "connect"
        raise BusError(f"cannot {verb} {endpoint}: {exc.strerror}") from None


def secure_attach(core: PublisherCore | SubscriberCore, socket: zmq.Socket[bytes], context: Any) -> str:
    """CURVE keys (when configured) then bind or connect; the keys' hold is let go if attaching fails."""
    core._curve_lease = secure(core.curve, socket, context, bind=core.bind)
    try:
        return _attach(socket, core.endpoint, core.bind)
    except BaseException:
        release_curve(core)
        raise


def release_curve(core: PublisherCore | SubscriberCore) -> None:
    lease, core._curve_lease = core._curve_lease, None
    if lease is not None:
        lease.release()
