"""Every vector through the Python codec, the Rust codec and python-jsonschema.

The two codecs are judged by the shipped kit (``tradebridge.conformance``), as testee processes speaking
``conformance/PROTOCOL.md``, exactly as ``tradebridge conformance codec --testee CMD`` judges a user's
service: no private path. Each implementation must reach the vector's verdict (the canonical value, or
the error code and path); the two codecs must agree with each other, and JSON Schema must agree on
accept/reject. A vector listed in ``known_failures/<implementation>.txt`` is expected to fail, and the run
fails when it starts passing (so the list can only shrink).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from tradebridge.conformance import CodecRun, ProcessTestee, run_codec
from tradebridge.errors import CODES, InternalError
from tradebridge.testing import rust_binary

from conformance.codecs.harness import (
    KNOWN_FAILURES_DIR,
    VECTORS_DIR,
    Outcome,
    PythonTestee,
    RustTestee,
    SchemaOracle,
    Testee,
    Vector,
    load_vectors,
    same,
)

VECTORS = load_vectors()
BY_ID = {vector.id: vector for vector in VECTORS}


def _ids(vectors: list[Vector]) -> list[str]:
    return [vector.id for vector in vectors]


def run(testee: Testee, vector: Vector) -> Outcome:
    options = {"max_size": vector.max_size, "allow_nan_tokens": vector.allow_nan_tokens}
    if vector.message == "frame":
        return testee.decode_frame(vector.payload, **options)
    return testee.decode(vector.message, vector.payload, **options)


def verdict(vector: Vector, outcome: Outcome) -> str | None:
    """None when the outcome is the vector's verdict, else what went wrong."""
    if vector.valid:
        if not outcome.ok:
            return f"expected acceptance, got {outcome.describe()}"
        expected, actual = vector.canonical, outcome.value
        if vector.message == "frame":
            expected, actual = vector.canonical, {"topic": outcome.topic, "value": outcome.value}
        if not same(actual, expected):
            return f"decoded value differs:\n  got      {actual!r}\n  expected {expected!r}"
        if outcome.legacy != vector.legacy:
            return f"legacy alias read: expected {vector.legacy}, the decoder reported {outcome.legacy}"
        return None
    if outcome.ok:
        return f"expected {vector.code}, but it was accepted as {outcome.value!r}"
    if outcome.code != vector.code:
        return f"expected {vector.code}, got {outcome.describe()}"
    if vector.error_path is not None and outcome.path != vector.error_path:
        return f"expected path {vector.error_path}, got {outcome.describe()}"
    return None


def judge(
    implementation: str, vector: Vector, problem: str | None, known: dict[str, set[str]], report: Any
) -> None:
    listed = vector.id in known[implementation]
    status = "pass" if problem is None else ("known_failure" if listed else "fail")
    if listed and problem is None:
        status = "stale_known_failure"
    report.record("codecs", f"{implementation}:{vector.id}", {"status": status, "problem": problem})
    if status == "stale_known_failure":
        pytest.fail(
            f"{vector.id} passes on {implementation} but is listed in "
            f"{KNOWN_FAILURES_DIR.name}/{implementation}.txt: remove it from the list"
        )
    if status == "known_failure":
        pytest.xfail(f"known failure of {implementation}: {problem}")
    if problem is not None:
        pytest.fail(f"{implementation} on {vector.id} ({vector.description}): {problem}")


def test_vector_files_follow_the_meta_schema() -> None:
    meta = json.loads((VECTORS_DIR / "vector.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(meta)
    problems = []
    for vector in VECTORS:
        body = json.loads(vector.path.read_text())
        problems += [f"{vector.id}: {error.message}" for error in validator.iter_errors(body)]
        prefix = vector.path.name[:2]
        if prefix not in ("y_", "n_") or (prefix == "y_") != body["valid"]:
            problems.append(f"{vector.id}: y_ files are valid, n_ files invalid")
    assert not problems, "\n".join(problems)


def test_the_corpus_is_big_enough_and_a_third_invalid() -> None:
    invalid = [vector for vector in VECTORS if not vector.valid]
    assert len(VECTORS) >= 60
    assert len(invalid) * 3 >= len(VECTORS)
    # The catalogue minus the one code that is no verdict on input: every verdict has a vector, and no
    # vector uses a code outside the catalogue.
    codes_covered = {vector.code for vector in invalid}
    assert codes_covered == set(CODES) - {InternalError.code}, "every error code has a vector"


def test_known_failure_lists_name_existing_vectors(known_failures: dict[str, set[str]]) -> None:
    unknown = {name: sorted(ids - BY_ID.keys()) for name, ids in known_failures.items() if ids - BY_ID.keys()}
    assert not unknown, f"known-failure lists name vectors that do not exist: {unknown}"


#: the testee commands the kit drives: ours, as any user's would be
KIT_TESTEES = {
    "python": lambda: [sys.executable, "-m", "tradebridge.conformance.python_testee"],
    "rust": lambda: [str(rust_binary("contracts-testee"))],
}


@pytest.fixture(scope="session")
def kit_runs(known_failures: dict[str, set[str]]) -> Iterator[dict[str, CodecRun]]:
    runs = {}
    for name, command in KIT_TESTEES.items():
        with ProcessTestee(command()) as testee:
            runs[name] = run_codec(testee, VECTORS, known_failures[name], name=name)
    yield runs


def kit_verdict(
    implementation: str, vector: Vector, runs: dict[str, CodecRun], known: Any, report: Any
) -> None:
    verdict = next(v for v in runs[implementation].verdicts if v.vector == vector.id)
    problem = None
    if verdict.status not in ("pass", "stale_known_failure"):
        problem = f"{verdict.status}: {verdict.problem}\n  got      {verdict.got!r}"
        problem += f"\n  expected {verdict.expected!r}"
    judge(implementation, vector, problem, known, report)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids(VECTORS))
def test_python_codec(
    vector: Vector,
    kit_runs: dict[str, CodecRun],
    known_failures: dict[str, set[str]],
    conformance_report: Any,
) -> None:
    kit_verdict("python", vector, kit_runs, known_failures, conformance_report)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids(VECTORS))
def test_rust_codec(
    vector: Vector,
    kit_runs: dict[str, CodecRun],
    known_failures: dict[str, set[str]],
    conformance_report: Any,
) -> None:
    kit_verdict("rust", vector, kit_runs, known_failures, conformance_report)


SCHEMA_VECTORS = [vector for vector in VECTORS if vector.schema_check]


@pytest.mark.parametrize("vector", SCHEMA_VECTORS, ids=_ids(SCHEMA_VECTORS))
def test_json_schema_agrees(
    vector: Vector, schema_oracle: SchemaOracle, known_failures: dict[str, set[str]], conformance_report: Any
) -> None:
    accepted, reason = schema_oracle.accepts(vector.message, vector.payload)
    problem = None
    if accepted != vector.valid:
        problem = f"jsonschema {'accepts' if accepted else 'refuses'} it ({reason or 'valid'})"
    judge("jsonschema", vector, problem, known_failures, conformance_report)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids(VECTORS))
def test_codecs_agree_with_each_other(
    vector: Vector, python_testee: PythonTestee, rust_testee: RustTestee, known_failures: dict[str, set[str]]
) -> None:
    python, rust = run(python_testee, vector), run(rust_testee, vector)
    expected_to_differ = vector.id in known_failures["python"] ^ known_failures["rust"]
    agree = python.ok == rust.ok and (
        same(python.value, rust.value) and python.topic == rust.topic and python.legacy == rust.legacy
        if python.ok
        else python.code == rust.code
    )
    if expected_to_differ:
        assert not agree, f"{vector.id}: listed for one codec only, yet both now agree: update the lists"
        return
    assert agree, f"python {python.describe()} {python.value!r} / rust {rust.describe()} {rust.value!r}"


VALID = [vector for vector in VECTORS if vector.valid and vector.message != "frame"]


@pytest.mark.parametrize("vector", VALID, ids=_ids(VALID))
def test_each_codec_reads_what_the_other_writes(
    vector: Vector, python_testee: PythonTestee, rust_testee: RustTestee
) -> None:
    # What either writes is canonical: no alias, no NaN token, so the default decoders read it.
    options = {"allow_nan_tokens": vector.allow_nan_tokens}
    from_python = python_testee.decode(vector.message, vector.payload, **options)
    from_rust = rust_testee.decode(vector.message, vector.payload, **options)
    rust_reads_python = rust_testee.decode(vector.message, from_python.payload)
    python_reads_rust = python_testee.decode(vector.message, from_rust.payload)
    assert rust_reads_python.ok and same(rust_reads_python.value, vector.canonical), (
        rust_reads_python.describe()
    )
    assert python_reads_rust.ok and same(python_reads_rust.value, vector.canonical), (
        python_reads_rust.describe()
    )
    for testee in (python_testee, rust_testee):
        encoded = testee.encode(vector.message, vector.canonical)
        assert encoded.ok and same(encoded.value, vector.canonical), f"{testee.name}: {encoded.describe()}"
