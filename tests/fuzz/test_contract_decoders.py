"""Fuzz of the Python codec: ``decode`` and ``decode_frame`` on random bytes, mutated corpus inputs and
random JSON documents shaped like contract messages.

Only ``ContractError`` may escape, always with a catalogued code other than ``internal`` and a JSON path;
whatever decodes survives encode -> decode unchanged, and its encoding is a fixed point.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, note, seed
from hypothesis import strategies as st
from tradebridge.contracts import (
    TOPICS,
    AnyMessage,
    BarUpdate,
    ContractError,
    Health,
    Heartbeat,
    MarketMessage,
    OrderUpdate,
    QuoteUpdate,
    Readiness,
    Signal,
    TradeUpdate,
    decode,
    decode_frame,
    encode,
    encode_frame,
    topic_of,
)
from tradebridge.errors import CODES

from tests.fuzz.conftest import FUZZ_SETTINGS, SEED, corpus, mutated

KINDS: tuple[Any, ...] = (
    AnyMessage, MarketMessage, BarUpdate, TradeUpdate, QuoteUpdate, Signal, OrderUpdate, Heartbeat, Health,
    Readiness,
)  # fmt: skip
TAGS = ("BarUpdate", "TradeUpdate", "QuoteUpdate", "Signal", "OrderUpdate", "Heartbeat", "Bar", "")
#: every key some contract message has, so random documents often get past the first missing field
KEYS = (
    "type", "symbol", "open", "high", "low", "close", "volume", "timestamp", "vwap", "trade_count", "price",
    "size", "trade_id", "exchange", "bid_price", "bid_size", "ask_price", "ask_size", "direction", "strength",
    "features", "metadata", "signal_id", "order_id", "client_order_id", "side", "qty", "filled_qty", "status",
    "order_type", "time_in_force", "limit_price", "filled_avg_price", "service", "sequence", "schema_version",
    "seq", "source", "sent_at_us", "version", "metrics", "ready", "checks", "reason",
)  # fmt: skip

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.sampled_from(("AAPL", "long", "short", "buy", "filled", "market", "day", "1.0", "1.7", "2.0", "ok")),
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A JSON object over contract keys (``NaN``/``Infinity`` tokens included, as Python writes them)."""
    document: dict[str, Any] = draw(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=14))
    if draw(st.booleans()):
        document["type"] = draw(st.sampled_from(TAGS))
    text = json.dumps(document, allow_nan=True, indent=draw(st.sampled_from((None, 1))))
    return text.encode()


PAYLOADS = st.one_of(
    st.binary(max_size=256),
    mutated(corpus("contracts_decode")),
    documents(),
)
FRAMES = st.one_of(
    mutated(corpus("frame_parse")),
    st.tuples(st.sampled_from((*TOPICS, "", "Market", "mârket", "x")), PAYLOADS).map(
        lambda pair: pair[0].encode() + b" " + pair[1]
    ),
    st.binary(max_size=64),
)


def refused_properly(exc: ContractError) -> None:
    assert exc.code in CODES, exc.code
    assert exc.code != "internal", exc
    assert exc.path.startswith("$"), exc.path


@seed(SEED)
@FUZZ_SETTINGS
@given(data=PAYLOADS)
def test_decode_refuses_only_with_contract_errors_and_round_trips(data: bytes) -> None:
    note(f"fuzz seed {SEED} (TRADEBRIDGE_FUZZ_SEED={SEED} replays this run)")
    for kind in KINDS:
        for lenient in (False, True):
            try:
                message = decode(data, kind, allow_nan_tokens=lenient)
            except ContractError as exc:
                refused_properly(exc)
                continue
            encoded = encode(message)
            again = decode(encoded, kind)
            assert again == message, (kind, data)
            assert encode(again) == encoded


@seed(SEED)
@FUZZ_SETTINGS
@given(frame=FRAMES)
def test_decode_frame_refuses_only_with_contract_errors_and_round_trips(frame: bytes) -> None:
    note(f"fuzz seed {SEED} (TRADEBRIDGE_FUZZ_SEED={SEED} replays this run)")
    for lenient in (False, True):
        try:
            topic, message = decode_frame(frame, allow_nan_tokens=lenient)
        except ContractError as exc:
            refused_properly(exc)
            continue
        assert topic == topic_of(message)
        again_topic, again = decode_frame(encode_frame(message))
        assert again_topic == topic
        assert again == message, frame
