"""The ZeroMQ bus: the guide's asyncio ``ZMQPublisher`` and ``ZMQSubscriber``, made loss-visible.

- Publishers bind and subscribers connect by default (the guide's roles); both take ``bind=`` to swap.
- Every message goes out as one frame ``<topic> <json>``, numbered per topic (``seq``) and stamped with
  the publisher's instance id (``source``), so a subscriber's :attr:`ZMQSubscriber.stats` shows gaps,
  drops and publisher restarts; and (contract v1.1) with its wall clock in microseconds (``sent_at_us``),
  from which every subscriber keeps a transit histogram (``stats.transit``: ``p50_us()``, ``p99_us()``;
  ``tradebridge_bus_transit_seconds`` on ``/metrics`` of a tracked subscriber). Across hosts a transit is
  only as exact as their clock sync. A v1.0 peer's messages carry no stamp and add no transit.
- Peers written to the guide without us are read: signals tagged ``SignalGenerated`` (counted in
  ``stats.legacy``) and, with ``BusOptions(allow_nan_tokens=True)``, bare ``NaN`` features as null
  (``stats.nan_tokens``); major version 2 is refused as ``unsupported_version`` and counted.
- No slow-joiner loss at start-up: ZeroMQ drops what a publisher sends before a subscriber's subscription
  has arrived, so for ``BusOptions.startup_grace`` seconds after connecting (default 3 s), until the first
  subscription arrives, a publisher holds its messages (at most ``BusOptions.startup_queue``) and sends
  them in order as soon as one comes; closing waits for one for the rest of the grace. The guide's
  ``async with ZMQPublisher(...) as pub: await pub.publish_signal(signal)`` thus delivers its signal to a
  subscriber started alongside. What the hold had to drop is counted in ``publisher.stats.dropped``; once
  a subscriber has been seen, ``publish`` goes straight to the socket. ``wait_for_subscribers(n)`` waits
  for more than one subscriber, or for one explicitly.
- Loss accounting follows each ``(topic, source)`` stream, so many publishers on one topic (N strategies
  feeding one engine) invent no loss; a bounded table of streams (``BusOptions.max_sources``) keeps
  memory flat (see :mod:`tradebridge.bus.stats`).
- Threads: ``stats`` is safe to read from any thread (a health server). An asyncio publisher or
  subscriber belongs to the loop that connected it and refuses any other with :class:`BusError`; the
  blocking twins can be shared between threads (see :mod:`tradebridge.bus.sync`). Using either after it
  was closed raises :class:`BusClosedError`.
- Frames above ``BusOptions.max_message_bytes`` are refused and counted (``stats.too_large``).
- Malformed frames are counted, logged without flooding and skipped (``strict=True`` raises instead).
- Socket options (:class:`BusOptions`) bound linger, so closing or exiting never hangs.

- CURVE security (``curve=``, a :class:`Curve`): a binding socket admits only the clients its allow-list
  names (ZAP), a connecting one talks only to the server whose key it holds; plaintext peers are refused
  and refusals counted (``curve_stats``). Keys: ``tradebridge keys generate``; see docs/deploy.md.

Blocking twins with the same names live in :mod:`tradebridge.bus.sync`.
"""

from __future__ import annotations

from tradebridge.bus._async import ZMQPublisher, ZMQSubscriber
from tradebridge.bus._core import BusClosedError, SubscriberTimeoutError
from tradebridge.bus._security import ALLOW_ANY, Curve, CurveConfigError, CurveStats
from tradebridge.bus.options import BusOptions
from tradebridge.bus.stats import PublisherStats, SourceStats, SubscriberStats, TopicStats, TransitHistogram

__all__ = [
    "ALLOW_ANY",
    "BusClosedError",
    "BusOptions",
    "Curve",
    "CurveConfigError",
    "CurveStats",
    "PublisherStats",
    "SourceStats",
    "SubscriberStats",
    "SubscriberTimeoutError",
    "TopicStats",
    "TransitHistogram",
    "ZMQPublisher",
    "ZMQSubscriber",
]
