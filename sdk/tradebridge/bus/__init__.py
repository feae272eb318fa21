"""The ZeroMQ bus: the guide's asyncio ``ZMQPublisher`` and ``ZMQSubscriber``, made loss-visible.

- Publishers bind and subscribers connect by default (the guide's roles); both take ``bind=`` to swap.
- Every message goes out as one frame ``<topic> <json>``, numbered per topic (``seq``) and stamped with
  the publisher's instance id (``source``), so a subscriber's :attr:`ZMQSubscriber.stats` shows gaps,
  drops and publisher restarts.
- ``wait_for_subscribers(n)`` removes the slow-joiner loss at start-up.
- Malformed frames are counted, logged without flooding and skipped (``strict=True`` raises instead).
- Socket options (:class:`BusOptions`) bound linger, so closing or exiting never hangs.

Blocking twins with the same names live in :mod:`tradebridge.bus.sync`.
"""

from __future__ import annotations

from tradebridge.bus._async import ZMQPublisher, ZMQSubscriber
from tradebridge.bus._core import SubscriberTimeoutError
from tradebridge.bus.options import BusOptions
from tradebridge.bus.stats import PublisherStats, SubscriberStats, TopicStats

__all__ = [
    "BusOptions",
    "PublisherStats",
    "SubscriberStats",
    "SubscriberTimeoutError",
    "TopicStats",
    "ZMQPublisher",
    "ZMQSubscriber",
]
