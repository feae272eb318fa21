"""The compatibility checker against its vectors: every change, path and verdict exactly as expected, and
every direction it calls safe tested by python-jsonschema on probe values (see ``vectors.py``)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from tradebridge.contracts.compat import KINDS, compare

from conformance.compat.vectors import FORMAT, CompatVector, Probes, load_vectors

VECTORS = load_vectors()


def _ids(vectors: list[CompatVector]) -> list[str]:
    return [vector.id for vector in vectors]


def _names(files: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for schema in files.values():
        stack = [schema]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                names.update((node.get("properties") or {}).keys())
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
    return names


def test_suite_size_and_coverage(conformance_report: Any) -> None:
    confluent = [v.id for v in VECTORS if v.body.get("source") == "confluent"]
    kinds = Counter(item["kind"] for v in VECTORS for item in v.body["expected"])
    conformance_report.record("compat", "vectors", {"total": len(VECTORS), "confluent": len(confluent)})
    assert len(VECTORS) >= 40
    assert len(confluent) >= 20
    # every change kind has a vector that proves its verdict
    untested = set(KINDS) - set(kinds)
    assert not untested, f"kinds without a vector: {sorted(untested)}"
    assert set(kinds) <= set(KINDS), f"vectors name unknown kinds: {sorted(set(kinds) - set(KINDS))}"


@pytest.mark.parametrize("vector", VECTORS, ids=_ids(VECTORS))
def test_vector_format(vector: CompatVector) -> None:
    Draft202012Validator(json.loads(FORMAT.read_text())).validate(vector.body)
    for side in ("old", "new"):
        for schema in vector.files(side).values():
            Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids(VECTORS))
def test_vector_verdicts(vector: CompatVector) -> None:
    report = compare(vector.files("old"), vector.files("new"), policy=vector.policy)
    got = sorted((c.message, c.kind, c.path, c.backward, c.forward) for c in report.changes)
    expected = sorted(
        (item.get("message", "message"), item["kind"], item["path"], item["backward"], item["forward"])
        for item in vector.body["expected"]
    )
    assert got == expected, vector.body["description"]
    for change in report.changes:
        assert change.full == (change.backward and change.forward)
        assert change.reason and change.kind in KINDS
    assert report.compatible_under("FULL") == (
        report.compatible_under("BACKWARD") and report.compatible_under("FORWARD")
    )


@pytest.mark.parametrize("vector", VECTORS, ids=_ids(VECTORS))
def test_safe_directions_hold_for_probes(vector: CompatVector, conformance_report: Any) -> None:
    """Where the checker says a reader reads a writer's data, python-jsonschema agrees on every probe."""
    old_files, new_files = vector.files("old"), vector.files("new")
    report = compare(old_files, new_files, policy=vector.policy)
    strict = vector.policy == "strict"
    names = tuple(sorted(_names(old_files) | _names(new_files)))
    old, new = Probes(old_files), Probes(new_files)
    checked = 0
    for file in sorted(set(old_files) & set(new_files)):
        message = file.removesuffix(".schema.json")
        changes = [c for c in report.changes if c.message == message]
        for writer, reader, safe in (
            (old, new, all(c.backward for c in changes)),
            (new, old, all(c.forward for c in changes)),
        ):
            if not safe:
                continue
            probes = writer.values(file, strict, names, other=reader)
            assert probes, f"no probe value is valid under {file}: the check would prove nothing"
            accept = reader.validator(file)
            refused = [p for p in probes if not accept.is_valid(p)]
            assert not refused, f"{file}: called safe, yet the reader refuses {refused[:3]}"
            checked += len(probes)
    conformance_report.record("compat_probes", vector.id, checked)


@pytest.mark.parametrize("vector", VECTORS, ids=_ids(VECTORS))
def test_unsafe_directions_have_a_witness(vector: CompatVector) -> None:
    """Where the checker says a reader may refuse a writer's data, a probe shows one such value, unless the
    vector says why none exists (a conservative verdict, or a break outside validation)."""
    old_files, new_files = vector.files("old"), vector.files("new")
    report = compare(old_files, new_files, policy=vector.policy)
    strict = vector.policy == "strict"
    names = tuple(sorted(_names(old_files) | _names(new_files)))
    old, new = Probes(old_files), Probes(new_files)
    excused: dict[str, str] = vector.body.get("no_witness", {})
    for file in sorted(set(old_files) & set(new_files)):
        message = file.removesuffix(".schema.json")
        changes = [c for c in report.changes if c.message == message]
        for direction, writer, reader, safe in (
            ("backward", old, new, all(c.backward for c in changes)),
            ("forward", new, old, all(c.forward for c in changes)),
        ):
            accept = reader.validator(file)
            witnesses = [
                p for p in writer.values(file, strict, names, other=reader) if not accept.is_valid(p)
            ]
            if safe:
                continue
            if direction in excused:
                assert not witnesses, (
                    f"{direction} is excused ({excused[direction]}) yet {witnesses[:2]} show it"
                )
            else:
                assert witnesses, f"{file}: {direction} called unsafe, but no probe value is refused"
