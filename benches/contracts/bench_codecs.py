"""Encode and decode of BarUpdate and Signal: the SDK (full contract validation) next to a bare msgspec
Struct (no constraints, no tag), orjson to a dict and stdlib json to a dict, in one run.

The ratios are printed at the end of the run (see conftest.py); targets: SDK decode within 1.25x of the
bare Struct and faster than orjson's untyped decode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import pytest
from tradebridge.contracts import BarUpdate, Decoder, Encoder, Signal

from benches.contracts.conftest import MEDIANS

BAR = (
    b'{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,'
    b'"volume":1000000.0,"timestamp":1729530000123,"schema_version":"1.0"}'
)
# Every optional field, the envelope and a field from a newer minor: long enough (> 226 bytes) that the
# SDK runs its nesting-depth count, which the short BAR is spared (see codec._deep_floor).
BAR_FULL = (
    b'{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,'
    b'"volume":1000000.0,"timestamp":1729530000123,"vwap":150.875,"trade_count":1234,'
    b'"schema_version":"1.0","seq":123456,"source":"market-data-alpaca","exchange_code":"XNAS"}'
)
SIGNAL = (
    b'{"type":"Signal","symbol":"AAPL","direction":"long","strength":0.85,"timestamp":1729530000123,'
    b'"features":[151.0,55.2,0.12,0.1,0.02,150.8,150.1,0.02,150.5,0.003,1000000.0,0.02],'
    b'"metadata":{"strategy":"ml-predictor","model":"v3"},"schema_version":"1.0"}'
)


class BareBar(msgspec.Struct):
    """What a service would write without a contract: same fields, no constraints, no tag."""

    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    timestamp: int
    schema_version: str = "1.0"


class BareSignal(msgspec.Struct):
    symbol: str
    direction: str
    strength: float
    timestamp: int
    features: list[float | None] | None = None
    metadata: dict[str, Any] | None = None
    schema_version: str = "1.0"


def decoders(payload: bytes, sdk_type: Any, bare_type: Any) -> dict[str, Callable[[], Any]]:
    sdk, bare = Decoder(sdk_type).decode, msgspec.json.Decoder(bare_type).decode
    return {
        "sdk": lambda: sdk(payload),
        "bare msgspec Struct": lambda: bare(payload),
        "orjson dict": lambda: orjson.loads(payload),
        "stdlib json dict": lambda: json.loads(payload),
    }


def encoders(payload: bytes, sdk_type: Any, bare_type: Any) -> dict[str, Callable[[], Any]]:
    message = Decoder(sdk_type).decode(payload)
    bare = msgspec.json.decode(payload, type=bare_type)
    as_dict = json.loads(payload)
    sdk, plain = Encoder().encode, msgspec.json.Encoder().encode
    return {
        "sdk": lambda: sdk(message),
        "bare msgspec Struct": lambda: plain(bare),
        "orjson dict": lambda: orjson.dumps(as_dict),
        "stdlib json dict": lambda: json.dumps(as_dict, separators=(",", ":")).encode(),
    }


def signal_with(features: int) -> bytes:
    """SIGNAL with ``features`` values: the decode curve over payload size."""
    values = ",".join(f"{100.0 + k * 0.125}" for k in range(features))
    return SIGNAL.replace(
        b'"features":[151.0,55.2,0.12,0.1,0.02,150.8,150.1,0.02,150.5,0.003,1000000.0,0.02]',
        b'"features":[' + values.encode() + b"]",
    )


#: how decode cost grows with the payload (conftest.py prints the curve and where it bends)
SIGNAL_SIZES = (0, 12, 1_000)

CASES = {
    "BarUpdate decode": decoders(BAR, BarUpdate, BareBar),
    "BarUpdate full decode": decoders(BAR_FULL, BarUpdate, BareBar),
    "Signal decode": decoders(SIGNAL, Signal, BareSignal),
    "BarUpdate encode": encoders(BAR, BarUpdate, BareBar),
    "Signal encode": encoders(SIGNAL, Signal, BareSignal),
}
for _size in SIGNAL_SIZES:
    _codecs = decoders(signal_with(_size), Signal, BareSignal)
    CASES[f"Signal decode, {_size} features"] = {
        name: _codecs[name] for name in ("sdk", "bare msgspec Struct")
    }
PARAMS = [(group, codec) for group, codecs in CASES.items() for codec in codecs]


@pytest.mark.parametrize(("group", "codec"), PARAMS, ids=[f"{g}-{c}".replace(" ", "_") for g, c in PARAMS])
def test_codec_speed(benchmark: Any, group: str, codec: str) -> None:
    benchmark.group = group
    run = CASES[group][codec]
    benchmark(run)
    MEDIANS[(group, codec)] = benchmark.stats.stats.median
