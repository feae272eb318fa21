"""Contract v1.1 in the Python codec: the version written and read, the counters of what a Decoder forgave,
and the envelope a publisher splices in (the API the bus uses)."""

from __future__ import annotations

import json

import msgspec
import pytest
from msgspec import UNSET
from tradebridge.contracts import (
    ABSENT_VERSION,
    CURRENT_VERSION,
    ENVELOPE_FORMAT,
    BarUpdate,
    Decoder,
    Heartbeat,
    MarketMessage,
    OrderUpdate,
    Signal,
    decode,
    decode_frame,
    encode,
    encode_frame,
    now_us,
    source_suffix,
    splice_envelope,
    without_envelope,
)
from tradebridge.errors import ContractError

ORIGINAL = (
    b'{"type": "SignalGenerated", "symbol": "AAPL", "direction": "long", "strength": 0.85, '
    b'"timestamp": 1729530000123, "features": [151.0, NaN, NaN], "metadata": {"strategy": "ml-predictor"}}'
)


def test_new_messages_say_1_1_and_absent_reads_as_1_0() -> None:
    assert (CURRENT_VERSION, ABSENT_VERSION) == ("1.1", "1.0")
    beat = Heartbeat(component="engine", timestamp=1)
    assert json.loads(encode(beat))["schema_version"] == "1.1"
    assert decode(encode(beat), type=Heartbeat).schema_version == "1.1"
    plain = decode(b'{"symbol":"A","direction":"long","strength":1,"timestamp":1}', type=Signal)
    versionless = decode(b'{"type":"Heartbeat","component":"e","timestamp":1}', type=Heartbeat)
    for message in (plain, versionless):
        assert message.schema_version == "1.0"
        assert json.loads(encode(message))["schema_version"] == "1.0", "re-encoding keeps the version read"


def test_the_decoder_counts_what_it_forgave() -> None:
    default, lenient = Decoder(Signal), Decoder(Signal, allow_nan_tokens=True)
    with pytest.raises(ContractError) as caught:
        default.decode(ORIGINAL)
    assert caught.value.code == "invalid_json" and (default.legacy, default.nan_tokens) == (0, 0)
    signal = lenient.decode(ORIGINAL)
    assert signal.features == [151.0, None, None] and (lenient.legacy, lenient.nan_tokens) == (1, 1)
    assert encode(signal).startswith(b'{"type":"Signal",')
    lenient.decode(encode(signal))
    assert (lenient.legacy, lenient.nan_tokens) == (1, 1), "canonical input is never counted"
    assert "allow_nan_tokens=True" in repr(lenient)


def test_the_alias_is_a_signal_only() -> None:
    plain = ORIGINAL.replace(b"NaN", b"1.0")
    assert decode(plain).symbol == "AAPL"  # the any-message union reads it too
    with pytest.raises(ContractError) as caught:
        Decoder(MarketMessage).decode(plain)
    assert caught.value.code == "unknown_type"
    with pytest.raises(ContractError) as caught:
        decode_frame(b"order " + plain)
    assert caught.value.code == "topic_mismatch"


def test_typed_v1_1_fields() -> None:
    signal = Signal(
        symbol="AAPL", direction="long", strength=0.5, timestamp=1, signal_id="run-1.a_b", price=2.5
    )
    assert decode(encode(signal), type=Signal) == signal
    for bad, code in (("tb/1", "invalid_value"), ("x" * 46, "invalid_value"), ("", "invalid_value")):
        with pytest.raises(ContractError) as caught:
            decode(encode(msgspec.structs.replace(signal, signal_id=bad)), type=Signal)
        assert (caught.value.code, caught.value.path) == (code, "$.signal_id")
    order = OrderUpdate(
        order_id="o",
        client_order_id="tb-run-1",
        symbol="AAPL",
        side="buy",
        qty=1.0,
        filled_qty=0.0,
        filled_avg_price=None,
        status="new",
        timestamp=1,
        signal_id="run-1",
    )
    assert decode(encode(order), type=OrderUpdate).signal_id == "run-1"


def test_the_spliced_envelope_equals_the_encoded_one() -> None:
    bar = BarUpdate(symbol="AAPL", open=1.0, high=2.0, low=0.5, close=1.5, volume=3.0, timestamp=1)
    before = now_us()
    frame = splice_envelope(encode_frame(bar), 7, source_suffix('py-"1"'), sent_at_us=now_us())
    topic, sent = decode_frame(frame)
    assert topic == "market" and before <= sent.sent_at_us <= now_us()
    assert sent == msgspec.structs.replace(bar, seq=7, source='py-"1"', sent_at_us=sent.sent_at_us)
    inline = ENVELOPE_FORMAT % (b"market ", encode(bar)[:-1], 7, sent.sent_at_us, source_suffix('py-"1"'))
    assert inline == frame
    _, without = decode_frame(splice_envelope(encode_frame(bar), 0, source_suffix("a")))
    assert without.sent_at_us is UNSET and without.seq == 0


def test_a_republished_message_loses_its_old_envelope() -> None:
    _, received = decode_frame(
        splice_envelope(encode_frame(Heartbeat(component="e", timestamp=1)), 3, source_suffix("a"), 99)
    )
    fresh = without_envelope(received)
    assert (fresh.seq, fresh.source, fresh.sent_at_us) == (UNSET, UNSET, UNSET)
    assert without_envelope(fresh) is fresh, "a message without envelope is not copied"
    frame = splice_envelope(encode_frame(fresh), 0, source_suffix("b"), 100)
    assert frame.count(b'"sent_at_us"') == 1 and decode_frame(frame)[1].sent_at_us == 100
