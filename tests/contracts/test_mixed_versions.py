"""Mixed versions at the codec level: a v1.0-only peer (the real v1.0 codec from git, and the released 1.0
schemas) and a v1.1 peer each read what the other writes.

- FORWARD: the v1.0 reader accepts every v1.1 message, ignoring the new fields and keeping the version.
- BACKWARD: the v1.1 reader accepts every v1.0 message; the new fields are absent (``UNSET``), the
  version is what was written (``1.0``, or absent read as ``1.0``).
- Major 2 is ``unsupported_version`` for both.

The same proofs over real sockets (bus publishers and subscribers of both versions) belong with the bus.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import msgspec
import pytest
import referencing
import tradebridge.contracts as v1_1
from msgspec import UNSET
from tradebridge.errors import ContractError

from tests.contracts.frozen_v1_0 import load

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "conformance" / "vectors"
RELEASED_1_0 = ROOT / "contracts" / "released" / "1.0"
NEW_FIELDS = {"sent_at_us", "signal_id", "price"}
#: what v1.1 added to each message (``price`` is new on Signal only: TradeUpdate always had one)
NEW_FIELDS_OF = {"Signal": NEW_FIELDS, "OrderUpdate": {"sent_at_us", "signal_id"}}
BUS_FOLDERS = {
    "bar_update": "BarUpdate",
    "trade_update": "TradeUpdate",
    "quote_update": "QuoteUpdate",
    "signal": "Signal",
    "order_update": "OrderUpdate",
    "heartbeat": "Heartbeat",
    "market_message": "MarketMessage",
    "message": "AnyMessage",
}
ENVELOPE = {"schema_version": "1.1", "seq": 3, "source": "py-1-abcdef01", "sent_at_us": 1729530000123456}


@pytest.fixture(scope="module")
def v1_0(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load(tmp_path_factory.mktemp("frozen"))


def _vectors() -> list[tuple[str, str, bytes, dict[str, Any]]]:
    """Every accepted bus-message vector a plain decoder reads (no alias, no option)."""
    found = []
    for folder in BUS_FOLDERS:
        for path in sorted((VECTORS / folder).glob("y_*.json")):
            body = json.loads(path.read_text())
            if body.get("legacy") or body.get("options"):
                continue
            payload = json.dumps(body["input"]).encode() if "input" in body else body["input_text"].encode()
            found.append((f"{folder}/{path.stem}", folder, payload, body["canonical"]))
    return found


VECTOR_CASES = _vectors()


def _new_fields(value: dict[str, Any]) -> set[str]:
    return NEW_FIELDS_OF.get(value["type"], {"sent_at_us"}) & value.keys()


V1_1_CASES = [case for case in VECTOR_CASES if _new_fields(case[3])]


def _fresh_v1_1_messages() -> list[Any]:
    """One message of each type as a v1.1 publisher writes it: every new field set."""
    return [
        v1_1.BarUpdate(
            symbol="AAPL", open=1.0, high=2.0, low=0.5, close=1.5, volume=10.0, timestamp=1, **ENVELOPE
        ),
        v1_1.TradeUpdate(symbol="AAPL", price=1.5, size=1.0, timestamp=1, **ENVELOPE),
        v1_1.QuoteUpdate(
            symbol="AAPL", bid_price=1.0, bid_size=1.0, ask_price=1.1, ask_size=2.0, timestamp=1, **ENVELOPE
        ),
        v1_1.Signal(
            symbol="AAPL",
            direction="long",
            strength=0.5,
            timestamp=1,
            features=[1.0, None],
            signal_id="run-1-1",
            price=151.5,
            **ENVELOPE,
        ),
        v1_1.OrderUpdate(
            order_id="o-1",
            client_order_id="tb-run-1-1",
            symbol="AAPL",
            side="buy",
            qty=1.0,
            filled_qty=0.0,
            filled_avg_price=None,
            status="new",
            timestamp=1,
            signal_id="run-1-1",
            **ENVELOPE,
        ),
        v1_1.Heartbeat(component="engine", timestamp=1, **ENVELOPE),
    ]


def _type_of(module: ModuleType, folder: str) -> Any:
    return getattr(module, BUS_FOLDERS[folder])


def _without_new_fields(value: dict[str, Any]) -> dict[str, Any]:
    new = _new_fields(value)
    return {key: item for key, item in value.items() if key not in new}


def test_the_v1_0_peer_is_the_frozen_code(v1_0: ModuleType) -> None:
    assert v1_0.CURRENT_VERSION == "1.0" and v1_1.CURRENT_VERSION == "1.1"
    assert "sent_at_us" not in v1_0.BarUpdate.__struct_fields__
    assert "signal_id" not in v1_0.Signal.__struct_fields__


def test_there_are_v1_1_vectors_for_every_new_field() -> None:
    covered = set().union(*(_new_fields(case[3]) for case in V1_1_CASES))
    assert covered == NEW_FIELDS
    assert len(V1_1_CASES) >= 8


@pytest.mark.parametrize(
    ("name", "folder", "payload", "canonical"), V1_1_CASES, ids=[c[0] for c in V1_1_CASES]
)
def test_v1_0_reader_reads_v1_1_vectors(
    v1_0: ModuleType, name: str, folder: str, payload: bytes, canonical: dict[str, Any]
) -> None:
    message = v1_0.decode(payload, type=_type_of(v1_0, folder))
    assert msgspec.json.decode(v1_0.encode(message)) == _without_new_fields(canonical)


@pytest.mark.parametrize("message", _fresh_v1_1_messages(), ids=lambda m: type(m).__name__)
def test_v1_0_reader_reads_what_v1_1_writes(v1_0: ModuleType, message: Any) -> None:
    frame = v1_1.encode_frame(message)
    topic, old = v1_0.decode_frame(frame)
    assert topic == v1_1.topic_of(message)
    written = msgspec.json.decode(v1_1.encode(message))
    assert written["schema_version"] == "1.1" and _new_fields(written)
    assert msgspec.json.decode(v1_0.encode(old)) == _without_new_fields(written)


def test_v1_0_reader_reads_a_spliced_v1_1_envelope(v1_0: ModuleType) -> None:
    beat = v1_1.Heartbeat(component="engine", timestamp=1)
    frame = v1_1.splice_envelope(v1_1.encode_frame(beat), 9, v1_1.source_suffix("py-9"), v1_1.now_us())
    _, old = v1_0.decode_frame(frame)
    assert (old.seq, old.source, old.schema_version) == (9, "py-9", "1.1")
    _, new = v1_1.decode_frame(frame)
    assert new.sent_at_us <= v1_1.now_us() and new.seq == 9


@pytest.mark.parametrize(
    ("name", "folder", "payload", "canonical"), VECTOR_CASES, ids=[c[0] for c in VECTOR_CASES]
)
def test_v1_1_reader_reads_what_v1_0_writes(
    v1_0: ModuleType, name: str, folder: str, payload: bytes, canonical: dict[str, Any]
) -> None:
    """Each accepted vector as the v1.0 codec writes it, read by v1.1: same message, new fields absent."""
    written_by_v1_0 = v1_0.encode(v1_0.decode(payload, type=_type_of(v1_0, folder)))
    message = v1_1.decode(written_by_v1_0, type=_type_of(v1_1, folder))
    assert msgspec.json.decode(v1_1.encode(message)) == _without_new_fields(canonical)
    for field in NEW_FIELDS_OF.get(message["type"], {"sent_at_us"}):
        assert getattr(message, field) is UNSET


def test_v1_1_reader_treats_absent_fields_and_version_as_v1_0(v1_0: ModuleType) -> None:
    old = v1_0.Signal(
        symbol="AAPL", direction="short", strength=0.25, timestamp=5, metadata={"signal_id": "x"}
    )
    new = v1_1.decode(v1_0.encode(old), type=v1_1.Signal)
    assert (new.schema_version, new.signal_id, new.price, new.sent_at_us) == ("1.0", UNSET, UNSET, UNSET)
    assert new.metadata == {"signal_id": "x"}, "metadata is data: never promoted to the typed field"
    plain = v1_1.decode(b'{"symbol":"AAPL","direction":"long","strength":1,"timestamp":1}', type=v1_1.Signal)
    assert plain.schema_version == "1.0" and v1_1.encode(plain).endswith(b'"schema_version":"1.0"}')


@pytest.mark.parametrize("message", _fresh_v1_1_messages(), ids=lambda m: type(m).__name__)
def test_major_2_is_refused_by_both(v1_0: ModuleType, message: Any) -> None:
    document = msgspec.json.decode(v1_1.encode(message))
    payload = json.dumps({**document, "schema_version": "2.0"}).encode()
    kind = type(message).__name__
    for codec, errors in ((v1_0, v1_0.ContractError), (v1_1, ContractError)):
        with pytest.raises(errors) as caught:
            codec.decode(payload, type=getattr(codec, kind))
        assert (caught.value.code, caught.value.path) == ("unsupported_version", "$.schema_version")


def _released_validators() -> dict[str, jsonschema.Draft202012Validator]:
    schemas = {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in RELEASED_1_0.glob("*.json")
    }
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (schema["$id"], referencing.Resource.from_contents(schema)) for schema in schemas.values()
    )
    return {
        name: jsonschema.Draft202012Validator(schema, registry=registry) for name, schema in schemas.items()
    }


def test_released_1_0_schemas_accept_every_v1_1_message() -> None:
    """FORWARD at the schema level: any validator holding the frozen 1.0 schemas accepts what v1.1 writes."""
    validators = _released_validators()
    names = {"BarUpdate": "bar_update", "TradeUpdate": "trade_update", "QuoteUpdate": "quote_update"}
    names |= {"Signal": "signal", "OrderUpdate": "order_update", "Heartbeat": "heartbeat"}
    documents = [msgspec.json.decode(v1_1.encode(m)) for m in _fresh_v1_1_messages()]
    documents += [json.loads(payload) for _, _, payload, _ in V1_1_CASES]
    for document in documents:
        errors = list(validators[names[document["type"]]].iter_errors(document))
        assert not errors, (document, [e.message for e in errors])


def test_the_v1_0_reader_refuses_the_alias_and_nan_tokens(v1_0: ModuleType) -> None:
    """What v1.1 forgives is new in v1.1: a v1.0 subscriber still refuses the original bridge's signals."""
    original = VECTORS / "signal" / "y_signal_generated_alias_original.json"
    payload = json.loads(original.read_text())["input_text"].encode()
    with pytest.raises(v1_0.ContractError) as caught:
        v1_0.decode(payload, type=v1_0.Signal)
    assert caught.value.code == "unknown_type"
    assert v1_1.decode(payload, type=v1_1.Signal).symbol == "AAPL"
