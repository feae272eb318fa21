"""Reduce a JSON Schema to the facts the drift check compares, whoever wrote it.

``contracts/v1`` (hand-written), ``msgspec.json.schema`` (from the Python Structs) and schemars (from the
Rust types) spell the same rule differently: ``{"const": x}`` or ``{"enum": [x]}``, ``"type": [t, "null"]``
or ``anyOf`` with null, inline or behind ``$ref``. Facts are what a rule *means*: per property its JSON
types, nullability, enum values, numeric bounds, string lengths, pattern and item rules, plus the
required set.
"""

from __future__ import annotations

from typing import Any

CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "maxItems",
)


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unexpected $ref {ref}")
        name = ref.removeprefix("#/$defs/")
        if name == "json_value":  # any JSON value with finite numbers; both parsers refuse the rest
            return {}
        extra = {k: v for k, v in node.items() if k != "$ref"}
        node = {**root["$defs"][name], **extra}
    return node


def facts(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(root, node)
    result: dict[str, Any] = {"nullable": False}
    variants = node.get("anyOf")
    if variants is not None and any(_resolve(root, v).get("type") == "null" for v in variants):
        others = [v for v in variants if _resolve(root, v).get("type") != "null"]
        if len(others) == 1:
            inner = facts(root, others[0])
            inner["nullable"] = True
            return inner
    if variants is not None:
        result["anyOf"] = sorted(repr(facts(root, v)) for v in variants)
    types = node.get("type")
    type_set = set(types) if isinstance(types, list) else ({types} if types else set())
    if "null" in type_set:
        result["nullable"] = True
        type_set.discard("null")
    enum = node.get("enum")
    if "const" in node:
        enum = [node["const"]]
    if enum is not None:
        result["enum"] = sorted(enum)
        type_set |= {"string"} if all(isinstance(e, str) for e in enum) else set()
    if type_set:
        result["types"] = sorted(type_set)
    for key in CONSTRAINTS:
        if key in node:
            result[key] = float(node[key])
    if "pattern" in node:
        result["pattern"] = node["pattern"]
    if isinstance(node.get("items"), dict):
        result["items"] = facts(root, node["items"])
    if isinstance(node.get("additionalProperties"), dict):
        values = facts(root, node["additionalProperties"])
        if values != {"nullable": False}:
            result["values"] = values
    return result


def message_facts(schema: dict[str, Any]) -> dict[str, Any]:
    """Facts of one message schema (the root itself, or the root's single ``$ref``)."""
    body = _resolve(schema, schema)
    return {
        "required": sorted(body.get("required", [])),
        "properties": {
            name: facts(schema, prop) for name, prop in sorted(body.get("properties", {}).items())
        },
    }


def differences(expected: dict[str, Any], actual: dict[str, Any], where: str = "") -> list[str]:
    """Human-readable differences between two fact trees."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in sorted(expected.keys() | actual.keys()):
            if key not in actual:
                found.append(f"{where}.{key}: only in the contract ({expected[key]!r})")
            elif key not in expected:
                found.append(f"{where}.{key}: not in the contract ({actual[key]!r})")
            else:
                found += differences(expected[key], actual[key], f"{where}.{key}")
        return found
    return [] if expected == actual else [f"{where}: contract {expected!r}, derived {actual!r}"]
