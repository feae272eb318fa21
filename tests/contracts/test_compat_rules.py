"""The checker's walk on shapes the vectors do not cover: recursion, deep nesting, absolute ``$id`` refs,
refs beside other keywords, and what a report says about itself."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from tradebridge.contracts.compat import CompatError, compare

ID = "https://example.test/schemas/"


def _one(old: Any, new: Any, **kwargs: Any) -> list[tuple[str, str, bool, bool]]:
    report = compare({"m.schema.json": old}, {"m.schema.json": new}, **kwargs)
    return [(c.kind, c.path, c.backward, c.forward) for c in report.changes]


def _tree(leaf: Any) -> dict[str, Any]:
    return {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {
                    "value": leaf,
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
            }
        },
        "$ref": "#/$defs/node",
    }


def test_recursive_schema_compares_once_per_path() -> None:
    assert _one(_tree({"type": "number"}), _tree({"type": "number"})) == []
    assert _one(_tree({"type": "number"}), _tree({"type": "integer"})) == [
        ("type_narrowed", "$.properties.value.type", False, True)
    ]


def test_recursive_ref_with_sibling_keywords_terminates() -> None:
    def schema(limit: int) -> dict[str, Any]:
        node = {"type": "array", "maxItems": limit, "items": {"$ref": "#/$defs/node", "description": "again"}}
        return {"$defs": {"node": node}, "$ref": "#/$defs/node"}

    assert _one(schema(3), schema(2)) == [("bound_tightened", "$.maxItems", False, True)]


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep: dict[str, Any] = {"type": "number"}
    for _ in range(100):
        deep = {"type": "array", "items": deep}
    with pytest.raises(CompatError) as caught:
        _one(deep, deep)
    assert caught.value.code == "too_deep"
    assert pickle.loads(pickle.dumps(caught.value)).code == "too_deep"


def test_absolute_ref_by_id_across_files() -> None:
    def files(limit: int) -> dict[str, Any]:
        common = {"$id": ID + "common.schema.json", "$defs": {"sym": {"type": "string", "maxLength": limit}}}
        message = {
            "$id": ID + "m.schema.json",
            "type": "object",
            "properties": {"sym": {"$ref": ID + "common.schema.json#/$defs/sym"}},
        }
        return {"common.schema.json": common, "m.schema.json": message}

    report = compare(files(32), files(16))
    assert [(c.message, c.kind, c.path) for c in report.changes] == [
        ("m", "bound_tightened", "$.properties.sym.maxLength")
    ]


def test_ref_beside_other_keywords_applies_both() -> None:
    old = {"properties": {"p": {"$ref": "#/$defs/n", "maximum": 10}}, "$defs": {"n": {"type": "number"}}}
    new = {"properties": {"p": {"$ref": "#/$defs/n", "maximum": 5}}, "$defs": {"n": {"type": "number"}}}
    assert _one(old, new) == [("bound_tightened", "$.properties.p.maximum", False, True)]


def test_pattern_properties_decide_what_an_undeclared_name_must_be() -> None:
    old = {"type": "object", "properties": {}, "patternProperties": {"^x_": {"type": "string"}}}
    new = {
        "type": "object",
        "properties": {"x_venue": {"type": "integer"}},
        "patternProperties": old["patternProperties"],
    }
    # an old reader demands a string under x_venue; new writers write an integer there
    assert _one(old, new) == [("property_added", "$.properties.x_venue", True, False)]
    broken = {**old, "patternProperties": {"(": {"type": "string"}}}
    assert _one(broken, {**new, "patternProperties": broken["patternProperties"]})[0][3] is False


def test_report_says_which_modes_hold() -> None:
    old = {"type": "object", "properties": {"side": {"enum": ["buy", "sell"]}}}
    new = {"type": "object", "properties": {"side": {"enum": ["buy", "sell", "short"]}}}
    report = compare({"m.schema.json": old}, {"m.schema.json": new}, mode="full")
    assert report.mode == "FULL"
    assert report.modes == ("BACKWARD",)
    assert not report.compatible
    assert [c.kind for c in report.breaking] == ["enum_value_added"]
    body = report.as_dict()
    assert body["compatible_modes"] == ["BACKWARD"]
    assert body["changes"][0]["new"] == "short"
