"""The one error of the bridges: a typed :class:`BridgeError` with a stable ``code``."""

from __future__ import annotations

from tradebridge.errors import TradebridgeError

__all__ = ["BRIDGE_ERROR_CODES", "BridgeError"]

#: every ``BridgeError.code``; codes are never renamed once released (tests and scripts compare them)
BRIDGE_ERROR_CODES = frozenset(
    {
        "invalid_option",  # a bad argument (topic, stream prefix, start position, window)
        "nats_unavailable",  # no NATS server answered at start-up
        "stream_setup_failed",  # JetStream refused to create or read a stream (no JetStream, bad config)
        "publish_failed",  # JetStream did not store a message within the retry budget: the bridge stops
    }
)


class BridgeError(TradebridgeError, ConnectionError):
    """A bridge could not start or had to stop; ``code`` is one of :data:`BRIDGE_ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in BRIDGE_ERROR_CODES:
            raise ValueError(f"unknown bridge error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.detail = message
