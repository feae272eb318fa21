"""The wire form: ``b"<topic> <json>"``, decoded by topic with exact topic matching."""

from __future__ import annotations

import pytest
from tradebridge.contracts import (
    TOPICS,
    BarUpdate,
    Heartbeat,
    OrderUpdate,
    QuoteUpdate,
    Signal,
    TradeUpdate,
    decode_frame,
    encode,
    encode_frame,
    split_frame,
    topic_of,
)
from tradebridge.errors import ContractError

BAR = BarUpdate(symbol="AAPL", open=150.0, high=152.5, low=149.5, close=151.0, volume=1e6, timestamp=1)


def test_topics() -> None:
    assert TOPICS == ("market", "signal", "order", "system")
    trade = TradeUpdate(symbol="A", price=1.0, size=1.0, timestamp=1)
    quote = QuoteUpdate(symbol="A", bid_price=1, bid_size=1, ask_price=1, ask_size=1, timestamp=1)
    assert {topic_of(m) for m in (BAR, trade, quote)} == {"market"}
    assert topic_of(Signal(symbol="A", direction="long", strength=1, timestamp=1)) == "signal"
    assert topic_of(Heartbeat(component="x", timestamp=1)) == "system"
    assert OrderUpdate.__struct_config__.tag == "OrderUpdate"
    with pytest.raises(ContractError) as caught:
        topic_of({"type": "BarUpdate"})
    assert caught.value.code == "unknown_type"


def test_round_trip_through_a_frame() -> None:
    frame = encode_frame(BAR)
    assert frame == b"market " + encode(BAR)
    topic, message = decode_frame(frame)
    assert (topic, message) == ("market", BAR)
    assert split_frame(frame) == ("market", encode(BAR))


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"market", "bad_frame"),
        (b" {}", "bad_frame"),
        ("mærket {}".encode(), "bad_frame"),
        (b"marketdata " + encode(BAR), "unknown_topic"),
        (b"signal " + encode(BAR), "topic_mismatch"),
        (b"market " + encode(Heartbeat(component="x", timestamp=1)), "topic_mismatch"),
        (b"market {", "invalid_json"),
    ],
)
def test_bad_frames(frame: bytes, code: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode_frame(frame)
    assert caught.value.code == code


def test_frame_size_limit_applies_to_the_payload() -> None:
    frame = encode_frame(BAR)
    with pytest.raises(ContractError) as caught:
        decode_frame(frame, max_size=10)
    assert caught.value.code == "too_large"
