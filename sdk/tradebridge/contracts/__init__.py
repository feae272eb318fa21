"""Contract v1: the messages Python and Rust services exchange, and their one JSON codec.

>>> from tradebridge.contracts import Signal, encode, decode
>>> signal = Signal(symbol="AAPL", direction="long", strength=0.85, timestamp=1729530000123)
>>> decode(encode(signal), type=Signal)["strength"]
0.85

The schemas in ``contracts/v1`` are the source of truth; ``tests/contracts`` and ``conformance/codecs``
prove these Structs and the Rust crate ``tradebridge-contracts`` agree with them.
"""

from __future__ import annotations

from tradebridge.contracts._lenient import SIGNAL_ALIAS
from tradebridge.contracts._values import ABSENT_VERSION, CURRENT_VERSION, MAX_SAFE_INTEGER, MAX_SIGNAL_ID
from tradebridge.contracts.codec import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    Decoder,
    Encoder,
    decode,
    encode,
    validate,
)
from tradebridge.contracts.frames import (
    ENVELOPE_FORMAT,
    TOPICS,
    decode_frame,
    encode_frame,
    now_us,
    source_suffix,
    splice_envelope,
    split_frame,
    topic_of,
    without_envelope,
)
from tradebridge.contracts.messages import (
    AnyMessage,
    BarUpdate,
    BusMessage,
    Health,
    Heartbeat,
    MarketMessage,
    OrderUpdate,
    QuoteUpdate,
    Readiness,
    Signal,
    TradeUpdate,
)
from tradebridge.errors import ContractError

__all__ = [
    "ABSENT_VERSION",
    "CURRENT_VERSION",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "ENVELOPE_FORMAT",
    "MAX_SAFE_INTEGER",
    "MAX_SIGNAL_ID",
    "SIGNAL_ALIAS",
    "TOPICS",
    "AnyMessage",
    "BarUpdate",
    "BusMessage",
    "ContractError",
    "Decoder",
    "Encoder",
    "Health",
    "Heartbeat",
    "MarketMessage",
    "OrderUpdate",
    "QuoteUpdate",
    "Readiness",
    "Signal",
    "TradeUpdate",
    "decode",
    "decode_frame",
    "encode",
    "encode_frame",
    "now_us",
    "source_suffix",
    "splice_envelope",
    "split_frame",
    "topic_of",
    "validate",
    "without_envelope",
]
