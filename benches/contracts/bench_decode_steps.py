"""Where validated decode spends its time over the bare Struct: one step added at a time, in one run.

For ``BarUpdate`` (every field present) and ``Signal``, each step decodes the same payload as the one
before it plus one thing the contract adds, all interleaved round after round (best of short chunks per
round, then the median over rounds, as ``bench_codecs.test_decode_ratio_interleaved``):

1. the bare Struct (``bench_codecs.BareBar``/``BareSignal``: same fields and types, no checks);
2. the contract's field types (``msgspec.Meta`` bounds and lengths, ``Literal`` values), no tag, no
   ``__post_init__``, the message's ``gc`` setting (built with ``msgspec.defstruct`` from the message);
3. the ``type`` tag as well;
4. the message class itself, as msgspec decodes it: its ``__post_init__`` as well (the native pattern
   checks, ``tradebridge._native.MessageChecks``), and the union partner that makes the tag required;
5. the SDK's ``Decoder.decode``: the native limit scan and call around step 4, the absent-version fix-up.

The printed table (conftest.py) is the profile behind the decode targets: what each step costs, in ns and
as a share of the bare Struct.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from tradebridge.contracts import BarUpdate, Decoder, Signal
from tradebridge.contracts.codec import _NeverMessage

from benches.contracts.bench_codecs import BAR_FULL, SIGNAL, BareBar, BareSignal, _per_call
from benches.contracts.conftest import STEPS

ROUNDS = 31


def contract_fields(message: type[Any], tagged: bool) -> type[Any]:
    """A plain Struct with ``message``'s fields, types and defaults (step 2), and its tag if ``tagged``."""
    fields = [
        (f.name, f.type, f.default if f.default is not msgspec.NODEFAULT else msgspec.NODEFAULT)
        for f in msgspec.structs.fields(message)
    ]
    config = message.__struct_config__
    options: dict[str, Any] = {"kw_only": True, "gc": config.gc}
    if tagged:
        options.update(tag_field="type", tag=config.tag)
    return msgspec.defstruct(f"{message.__name__}Fields", fields, **options)


def steps(payload: bytes, message: type[Any], bare: type[Any]) -> dict[str, Callable[[], Any]]:
    decoders: dict[str, Callable[[bytes], Any]] = {
        "1 bare Struct": msgspec.json.Decoder(bare).decode,
        "2 + contract field types": msgspec.json.Decoder(contract_fields(message, tagged=False)).decode,
        "3 + type tag": msgspec.json.Decoder(contract_fields(message, tagged=True)).decode,
        "4 + __post_init__ (message class)": msgspec.json.Decoder(
            message if message is Signal else message | _NeverMessage
        ).decode,
        "5 sdk Decoder.decode": Decoder(message).decode,
    }
    runs: dict[str, Callable[[], Any]] = {}
    for name, decode in decoders.items():
        runs[name] = functools.partial(decode, payload)
    return runs


CASES = {
    "BarUpdate full": (BAR_FULL, BarUpdate, BareBar),
    "Signal": (SIGNAL, Signal, BareSignal),
}


@pytest.mark.parametrize("case", list(CASES))
def test_decode_steps(benchmark: Any, case: str) -> None:
    runs = steps(*CASES[case])
    for run in runs.values():
        run()  # every step decodes the payload before it is timed
    samples: dict[str, list[float]] = {name: [] for name in runs}

    def one_round() -> None:
        order = list(runs.items())
        for name, run in order if len(samples["1 bare Struct"]) % 2 else reversed(order):
            samples[name].append(_per_call(run))

    benchmark.group = f"decode steps {case}"
    benchmark.name = "every step, one round each"
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    for name, values in samples.items():
        STEPS[(case, name)] = statistics.median(values[1:])
