"""The publisher's frames: one frame ``<topic> <json>``, numbered per topic, stamped with its source and
send time (``sent_at_us``, v1.1)."""

from __future__ import annotations

import msgspec
import pytest
from tradebridge.bus._publisher import PublisherCore
from tradebridge.bus.options import BusOptions
from tradebridge.contracts import CURRENT_VERSION, decode_frame, encode, now_us, topic_of, without_envelope
from tradebridge.errors import ContractError

from tests.bus.samples import bar, one_of_each, signal


def core(source: str | None = None) -> PublisherCore:
    return PublisherCore("tcp://127.0.0.1:*", bind=True, options=None, source=source)


def test_frame_is_topic_space_compact_json_with_envelope() -> None:
    frame = core("py-test").frame(signal())
    topic, _, payload = frame.partition(b" ")
    assert topic == b"signal"
    document = msgspec.json.decode(payload)
    assert document["type"] == "Signal"
    assert document["schema_version"] == CURRENT_VERSION
    assert document["seq"] == 0
    assert document["source"] == "py-test"
    assert isinstance(document["sent_at_us"], int)
    assert b", " not in payload and b": " not in payload  # compact, as the Rust side writes it


@pytest.mark.parametrize("message", one_of_each(), ids=lambda m: type(m).__name__)
def test_every_type_decodes_back_to_the_same_values(message: object) -> None:
    before = now_us()
    topic, decoded = decode_frame(core("src").frame(message))
    after = now_us()
    assert topic == topic_of(message)
    assert without_envelope(decoded) == message
    assert (decoded.seq, decoded.source) == (0, "src")
    assert before <= decoded.sent_at_us <= after


def test_sequence_numbers_count_per_topic_from_zero() -> None:
    publisher = core()
    seqs = []
    for message in [bar(0), bar(1), signal(0), bar(2), signal(1)]:
        _, decoded = decode_frame(publisher.frame(message))
        seqs.append((decoded["type"], decoded.seq))
    assert seqs == [("BarUpdate", 0), ("BarUpdate", 1), ("Signal", 0), ("BarUpdate", 2), ("Signal", 1)]
    assert publisher.next_seq("market") == 3 and publisher.next_seq("order") == 0


def test_republishing_a_received_message_takes_the_new_publishers_envelope() -> None:
    first, second = core("first"), core("second")
    for _ in range(5):
        first.frame(bar())
    _, received = decode_frame(first.frame(bar()))
    assert (received.seq, received.source) == (5, "first")
    stale = msgspec.structs.replace(received, sent_at_us=1)
    frame = second.frame(stale)
    assert frame.count(b'"sent_at_us"') == 1 and frame.count(b'"seq"') == 1
    _, republished = decode_frame(frame)
    assert (republished.seq, republished.source) == (0, "second")
    assert republished.sent_at_us > 1  # the new publisher's own stamp
    assert (received.seq, stale.sent_at_us) == (5, 1)  # the caller's message is not changed


def test_the_source_id_is_json_escaped() -> None:
    _, decoded = decode_frame(core('odd "id" \\ é').frame(bar()))
    assert decoded.source == 'odd "id" \\ é'


def test_source_ids_differ_between_instances() -> None:
    assert core().source != core().source


def test_a_non_message_is_refused_with_a_contract_error() -> None:
    with pytest.raises(ContractError) as caught:
        core().frame({"type": "BarUpdate"})
    assert caught.value.code == "unknown_type"


def test_envelope_splice_matches_a_plain_encode() -> None:
    message = bar(3)
    spliced = core("x").frame(message, sent_at_us=1_700_000_000_000_000)
    expected = b"market " + encode(
        msgspec.structs.replace(message, seq=0, source="x", sent_at_us=1_700_000_000_000_000)
    )
    assert msgspec.json.decode(spliced[7:]) == msgspec.json.decode(expected[7:])


@pytest.mark.parametrize(
    "field", ["send_hwm", "receive_hwm", "linger_ms", "reconnect_ivl_ms", "reconnect_ivl_max_ms"]
)
def test_negative_options_are_refused(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BusOptions(**{field: -1})  # type: ignore[arg-type]
