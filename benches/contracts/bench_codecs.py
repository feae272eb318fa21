"""Encode and decode of BarUpdate and Signal: the SDK (full contract validation) next to a bare msgspec
Struct (no constraints, no tag), orjson to a dict and stdlib json to a dict, in one run.

The ratios are printed at the end of the run (see conftest.py); targets: SDK decode within 1.25x of the
bare Struct and faster than orjson's untyped decode.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import pytest
from tradebridge.contracts import BarUpdate, Decoder, Encoder, Signal

from benches.contracts.conftest import INTERLEAVED, MEDIANS

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
    """What a service would write without a contract: the same fields of the same types (so it parses the
    same members of a document into the same objects, and skips the same unknown ones), no constraints,
    no tag, no checks. msgspec's defaults on both sides (gc, no array_like)."""

    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    timestamp: int
    vwap: float | None = None
    trade_count: int | None = None
    schema_version: str = "1.0"
    seq: int | None = None
    source: str | None = None
    sent_at_us: int | None = None


class BareSignal(msgspec.Struct):
    symbol: str
    direction: str
    strength: float
    timestamp: int
    features: list[float | None] | None = None
    metadata: dict[str, Any] | None = None
    signal_id: str | None = None
    price: float | None = None
    schema_version: str = "1.0"
    seq: int | None = None
    source: str | None = None
    sent_at_us: int | None = None


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


#: the decode groups whose sdk/bare ratio has a target; measured once more interleaved (see below)
TARGETS = {"BarUpdate decode": 1.25, "BarUpdate full decode": 1.25, "Signal decode": 1.25}
INTERLEAVED_ROUNDS = 41
# A round times each side as the best of a few short chunks: on a shared machine a long chunk nearly always
# holds a preemption, and the median over rounds would measure the neighbours' load.
CHUNKS, CALLS_PER_CHUNK = 5, 200


@pytest.mark.parametrize(("group", "codec"), PARAMS, ids=[f"{g}-{c}".replace(" ", "_") for g, c in PARAMS])
def test_codec_speed(benchmark: Any, group: str, codec: str) -> None:
    benchmark.group = group
    run = CASES[group][codec]
    benchmark(run)
    MEDIANS[(group, codec)] = benchmark.stats.stats.median


def _per_call(run: Callable[[], Any]) -> float:
    best = float("inf")
    for _ in range(CHUNKS):
        started = time.perf_counter()
        for _ in range(CALLS_PER_CHUNK):
            run()
        best = min(best, time.perf_counter() - started)
    return best / CALLS_PER_CHUNK


@pytest.mark.parametrize("group", list(TARGETS))
def test_decode_ratio_interleaved(benchmark: Any, group: str) -> None:
    """sdk and bare Struct alternately, round after round (the order flipped every round), so the shared
    CPU's drift hits both alike: the target verdicts come from these medians."""
    sdk, bare = CASES[group]["sdk"], CASES[group]["bare msgspec Struct"]
    samples: dict[str, list[float]] = {"sdk": [], "bare msgspec Struct": []}

    def one_round() -> None:
        pair = [("sdk", sdk), ("bare msgspec Struct", bare)]
        for name, run in pair if len(samples["sdk"]) % 2 else reversed(pair):
            samples[name].append(_per_call(run))

    benchmark.group = f"{group} interleaved"
    benchmark.name = "sdk and bare Struct, one round each"
    benchmark.pedantic(one_round, rounds=INTERLEAVED_ROUNDS, iterations=1, warmup_rounds=1)
    for name, values in samples.items():
        INTERLEAVED[(group, name)] = statistics.median(values[1:])
