"""Mixed versions across languages: v1.0 and v1.1 codecs, Python and Rust, in every direction.

Writers and readers are the real codecs: Python v1.0 from git and Rust v1.0 built from git
(``frozen_v1_0.py``), Python v1.1 in-process and Rust v1.1 (``contracts-testee`` of this checkout). For each
accepted vector, each v1.0 writer's output is read by each v1.1 reader (BACKWARD: same message, the new
fields absent), and each v1.1 writer's output of a v1.1 message is read by each v1.0 reader (FORWARD: the
new fields ignored, the version kept). Major 2 is ``unsupported_version`` in all four codecs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import msgspec
import pytest
import tradebridge.contracts as v1_1

from conformance.codecs.harness import PythonTestee, RustTestee
from tests.contracts.frozen_v1_0 import load, rust_testee
from tests.contracts.test_mixed_versions import (
    BUS_FOLDERS,
    V1_1_CASES,
    VECTOR_CASES,
    _new_fields,
    _without_new_fields,
)

Codec = Callable[[str, bytes], tuple[bool, Any, bytes, str | None]]
"""(message name, payload) -> (accepted, value as its encoder writes it, encoded bytes, error code)"""


@pytest.fixture(scope="module")
def rust_v1_0() -> Iterator[RustTestee]:
    testee = RustTestee(binary=rust_testee())
    yield testee
    testee.close()


@pytest.fixture(scope="module")
def rust_v1_1() -> Iterator[RustTestee]:
    testee = RustTestee()
    yield testee
    testee.close()


@pytest.fixture(scope="module")
def python_v1_0(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return load(tmp_path_factory.mktemp("frozen"))


def _python(module: ModuleType, errors: type[Exception]) -> Codec:
    def codec(message: str, payload: bytes) -> tuple[bool, Any, bytes, str | None]:
        try:
            decoded = module.decode(payload, type=getattr(module, BUS_FOLDERS[message]))
        except errors as exc:
            return False, None, b"", getattr(exc, "code", None)
        encoded = module.encode(decoded)
        return True, msgspec.json.decode(encoded), encoded, None

    return codec


def _rust(testee: RustTestee) -> Codec:
    def codec(message: str, payload: bytes) -> tuple[bool, Any, bytes, str | None]:
        outcome = testee.decode(message, payload)
        return outcome.ok, outcome.value, outcome.payload, outcome.code

    return codec


@pytest.fixture(scope="module")
def codecs(
    python_v1_0: ModuleType, rust_v1_0: RustTestee, rust_v1_1: RustTestee
) -> dict[str, dict[str, Codec]]:
    python_v1_1 = PythonTestee()
    return {
        "1.0": {"python": _python(python_v1_0, python_v1_0.ContractError), "rust": _rust(rust_v1_0)},
        "1.1": {
            "python": lambda m, p: _outcome_tuple(python_v1_1.decode(m, p)),
            "rust": _rust(rust_v1_1),
        },
    }


def _outcome_tuple(outcome: Any) -> tuple[bool, Any, bytes, str | None]:
    return outcome.ok, outcome.value, outcome.payload, outcome.code


def test_the_rust_v1_0_peer_is_the_frozen_build(rust_v1_0: RustTestee) -> None:
    schemas = rust_v1_0.request("schemas")["value"]
    assert "sent_at_us" not in schemas["bar_update"]["properties"]
    assert "signal_id" not in schemas["signal"]["properties"]


@pytest.mark.parametrize("writer", ["python", "rust"])
@pytest.mark.parametrize("reader", ["python", "rust"])
def test_v1_1_readers_read_v1_0_writers(
    codecs: dict[str, dict[str, Codec]], writer: str, reader: str
) -> None:
    problems = []
    for name, folder, payload, canonical in VECTOR_CASES:
        ok, _, written, code = codecs["1.0"][writer](folder, payload)
        assert ok, f"{name}: the v1.0 {writer} codec refused a valid vector ({code})"
        ok, value, _, code = codecs["1.1"][reader](folder, written)
        if not ok or value != _without_new_fields(canonical):
            problems.append(f"{name}: {code or value}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("writer", ["python", "rust"])
@pytest.mark.parametrize("reader", ["python", "rust"])
def test_v1_0_readers_read_v1_1_writers(
    codecs: dict[str, dict[str, Codec]], writer: str, reader: str
) -> None:
    problems = []
    for name, folder, payload, canonical in V1_1_CASES:
        ok, _, written, code = codecs["1.1"][writer](folder, payload)
        assert ok and _new_fields(msgspec.json.decode(written)), f"{name}: {code}"
        ok, value, _, code = codecs["1.0"][reader](folder, written)
        if not ok or value != _without_new_fields(canonical):
            problems.append(f"{name}: {code or value}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("version", ["1.0", "1.1"])
@pytest.mark.parametrize("language", ["python", "rust"])
def test_major_2_is_refused_everywhere(
    codecs: dict[str, dict[str, Codec]], version: str, language: str
) -> None:
    for _, folder, _, canonical in V1_1_CASES:
        payload = json.dumps({**canonical, "schema_version": "2.0"}).encode()
        ok, _, _, code = codecs[version][language](folder, payload)
        assert (ok, code) == (False, "unsupported_version"), (folder, canonical)


def test_fresh_v1_1_messages_cross_to_both_v1_0_readers(codecs: dict[str, dict[str, Codec]]) -> None:
    signal = v1_1.Signal(
        symbol="AAPL", direction="long", strength=0.5, timestamp=1, signal_id="s-1", price=2.5, sent_at_us=7
    )
    for reader in ("python", "rust"):
        ok, value, _, _ = codecs["1.0"][reader]("signal", v1_1.encode(signal))
        assert (
            ok
            and value["schema_version"] == "1.1"
            and not {"signal_id", "price", "sent_at_us"} & value.keys()
        )
