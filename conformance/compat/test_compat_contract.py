"""The checker's verdicts on the real contract, tested against python-jsonschema with probe values: a
v1.1-style minor (optional fields only) and deliberately breaking edits of ``contracts/v1``, each compared
with the frozen ``contracts/released/1.0``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tradebridge.contracts.compat import compare

from conformance.compat.vectors import ROOT, Probes

RELEASED = ROOT / "contracts" / "released" / "1.0"
V1 = ROOT / "contracts" / "v1"


def _load(directory: Path) -> dict[str, Any]:
    return {path.name: json.loads(path.read_text()) for path in sorted(directory.glob("*.schema.json"))}


def _files_used(files: dict[str, Any], file: str) -> set[str]:
    """``file`` and every file its ``$ref`` s reach."""
    seen, todo = set(), [file]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = json.dumps(files[name])
        todo += [other for other in files if f'"{other}' in text and other != name]
    return seen


def _minor(files: dict[str, Any]) -> None:
    files["signal.schema.json"]["properties"]["horizon_ms"] = {"$ref": "#/$defs/millis"}
    files["bar_update.schema.json"]["properties"]["exchange"] = {
        "type": "string",
        "minLength": 1,
        "maxLength": 16,
    }
    files["order_update.schema.json"]["properties"]["notional"] = {"$ref": "#/$defs/price"}


def _tighter_strength(files: dict[str, Any]) -> None:
    files["signal.schema.json"]["properties"]["strength"]["maximum"] = 0.5


def _no_canceled(files: dict[str, Any]) -> None:
    files["order_update.schema.json"]["properties"]["status"]["enum"].remove("canceled")


def _nullable_qty(files: dict[str, Any]) -> None:
    files["order_update.schema.json"]["properties"]["qty"] = {
        "anyOf": [{"$ref": "#/$defs/quantity"}, {"type": "null"}]
    }


def _required_vwap(files: dict[str, Any]) -> None:
    files["bar_update.schema.json"]["required"].append("vwap")


def _new_side(files: dict[str, Any]) -> None:
    files["order_update.schema.json"]["properties"]["side"]["enum"].append("sell_short")


@pytest.mark.parametrize(
    ("edit", "backward", "forward"),
    [
        (_minor, True, True),
        (_tighter_strength, False, True),
        (_no_canceled, False, True),
        (_nullable_qty, False, False),  # a type rewritten as anyOf: conservative, see the README
        (_required_vwap, False, True),
        (_new_side, True, False),
    ],
    ids=[
        "minor-optional-fields",
        "tighter-strength",
        "enum-value-removed",
        "qty-rewritten",
        "required-vwap",
        "new-side",
    ],
)
def test_verdicts_agree_with_a_validator(
    edit: Callable[[dict[str, Any]], None], backward: bool, forward: bool
) -> None:
    old_files, new_files = _load(RELEASED), _load(V1)
    edit(new_files)
    report = compare(old_files, new_files)
    assert (report.compatible_under("BACKWARD"), report.compatible_under("FORWARD")) == (backward, forward)
    old, new = Probes(old_files), Probes(new_files)
    conservative = edit is _nullable_qty
    for file in sorted(old_files):
        # a union (market_message) accepts what the messages it refers to accept: their changes are its own
        messages = {name.removesuffix(".schema.json") for name in _files_used(old_files, file)}
        changes = [c for c in report.changes if c.message in messages]
        if not changes:
            continue  # the same schemas on both sides
        for writer, reader, safe in (
            (old, new, all(c.backward for c in changes)),
            (new, old, all(c.forward for c in changes)),
        ):
            probes = writer.values(file, False, other=reader)
            assert probes, file
            accept = reader.validator(file)
            refused = [p for p in probes if not accept.is_valid(p)]
            if safe:
                assert not refused, f"{file}: called safe, yet the reader refuses {refused[:2]}"
            elif not conservative:
                assert refused, f"{file}: called unsafe, yet no probe is refused"
