"""The checker's vectors (``conformance/vectors/compat/<group>/<name>.json``) and the probes that test its
verdicts against a JSON Schema validator.

A vector holds two versions of one schema (``old``/``new``, file ``message.schema.json``) or of a set
(``old_files``/``new_files``) and every change the checker must report. Groups are subdirectories so the
codec harness's ``vectors/*/*.json`` never picks these up.

Probes: values built from a schema's own keywords (its enum values, its bounds and just past them, a
small pool of strings and numbers, objects with and without each optional property) and kept when the
schema accepts them. Where the checker claims a direction safe, every probe the writer's schema accepts
must be accepted by the reader's: that is the claim, tested by python-jsonschema, an implementation the
checker does not share code with. Under the codec policy writers emit declared properties only; under
the strict policy probes also carry undeclared properties with arbitrary values.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from tradebridge.contracts.compat import SchemaSet

ROOT = Path(__file__).resolve().parents[2]
VECTORS_DIR = ROOT / "conformance" / "vectors" / "compat"
FORMAT = Path(__file__).with_name("vector.schema.json")
BASE = "https://compat.tradebridge.test/"

# Strings no keyword derives: the contract's own patterns (a symbol, a version, an RFC 3339 time) need them.
POOL: tuple[Any, ...] = (
    None, True, 0, 1, -1, 0.5, 2, 5, 6, 10, 12, 1e9, 1e300, "", "x", "AAPL", "BRK.B", "aapl", "A1", "buy",
    "1.0", "1.1", "2025-10-21T17:00:00Z", [], [1.0], [1, 1], [None], {}, {"k": "v"}, {"k": 1},
)  # fmt: skip
MAX_DEPTH = 4
MAX_VALUES = 100


def _closed(schema: Any) -> Any:
    """``schema`` with every record (an object schema with ``properties``) closed."""
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: _closed(value) for key, value in schema.items()}
    if "properties" in schema:
        closed["additionalProperties"] = False
    return closed


@dataclass(frozen=True)
class CompatVector:
    id: str
    body: dict[str, Any]

    @property
    def policy(self) -> str:
        return str(self.body.get("policy", "codec"))

    def files(self, side: str) -> dict[str, Any]:
        if f"{side}_files" in self.body:
            return dict(self.body[f"{side}_files"])
        return {"message.schema.json": self.body[side]}


def load_vectors() -> list[CompatVector]:
    return [
        CompatVector(f"{path.parent.name}/{path.stem}", json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(VECTORS_DIR.glob("*/*.json"))
    ]


class Probes:
    """Probe values for each file of one schema set, and a validator per file."""

    def __init__(self, files: dict[str, Any]) -> None:
        self.set = SchemaSet(files)
        self.registry = self._registry(files)
        # the codec policy's writer: it emits only the properties its schema declares
        self.writer_registry = self._registry({name: _closed(schema) for name, schema in files.items()})
        self._extra_names: tuple[str, ...] = ()

    @staticmethod
    def _registry(files: dict[str, Any]) -> Registry[Any]:
        registry: Registry[Any] = Registry()
        for name, schema in files.items():
            resource = Resource.from_contents(schema, DRAFT202012)
            registry = registry.with_resource(BASE + name, resource)
            if isinstance(schema, dict) and isinstance(schema.get("$id"), str):
                # a file with an $id resolves its relative refs against it: register it there too
                registry = registry.with_resource(schema["$id"], resource)
        return registry

    def validator(self, name: str, writer: bool = False) -> Draft202012Validator:
        registry = self.writer_registry if writer else self.registry
        return Draft202012Validator({"$ref": BASE + name}, registry=registry)

    def values(
        self, name: str, strict: bool, names: tuple[str, ...] = (), other: Probes | None = None
    ) -> list[Any]:
        """Probes ``name`` accepts, drawn from its keywords and from ``other``'s version of the file (the
        reader's bounds are where a refusal hides); under ``strict`` objects also carry ``names`` (the
        properties either version declares) with arbitrary values."""
        self._extra_names = names
        found = self._values(name, "", strict, 0)
        if other is not None:
            other._extra_names = names
            found += other._values(name, "", strict, 0)
        accept = self.validator(name, writer=not strict)
        unique = {json.dumps(v, sort_keys=True): v for v in found}
        return [v for v in unique.values() if accept.is_valid(v)]

    def _node(self, file: str, pointer: str) -> tuple[str, str, Any]:
        """The schema at ``file#pointer``, every ``$ref`` followed (file and pointer follow too)."""
        for _ in range(16):
            schema = self.set.resolve(file, "#" + pointer).schema
            if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str)):
                return file, pointer, schema
            location, _, fragment = schema["$ref"].partition("#")
            file = self.set.resolve(file, schema["$ref"]).file if location else file
            pointer = fragment
        raise AssertionError(f"$ref loop at {file}#{pointer}")

    def _accepts(self, file: str, pointer: str) -> Any:
        return Draft202012Validator({"$ref": f"{BASE}{file}#{pointer}"}, registry=self.registry).is_valid

    def _values(self, file: str, pointer: str, strict: bool, depth: int) -> list[Any]:
        file, pointer, schema = self._node(file, pointer)
        if not isinstance(schema, dict) or depth > MAX_DEPTH:
            return list(POOL)
        out: list[Any] = list(POOL)
        if "const" in schema:
            out.append(schema["const"])
        out += list(schema.get("enum", []))
        for keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
            if isinstance(schema.get(keyword), (int, float)):
                value = schema[keyword]
                out += [value, value - 1, value + 1, value * 2, value / 2]
        for keyword in ("minLength", "maxLength"):
            if isinstance(schema.get(keyword), int):
                out += ["A" * schema[keyword], "A" * (schema[keyword] + 1)]
        for keyword in ("anyOf", "oneOf", "allOf"):
            for index, _branch in enumerate(schema.get(keyword, [])):
                out += self._values(file, f"{pointer}/{keyword}/{index}", strict, depth + 1)
        if isinstance(schema.get("items"), dict) or "maxItems" in schema or "minItems" in schema:
            if isinstance(schema.get("items"), dict):
                items = self._values(file, f"{pointer}/items", strict, depth + 1)[:MAX_VALUES]
            else:
                items = list(POOL)
            out += [[item] for item in items] + [[item, item] for item in items[:5]]
            for keyword in ("minItems", "maxItems"):
                if isinstance(schema.get(keyword), int) and items:
                    out += [[items[-1]] * schema[keyword], [items[-1]] * (schema[keyword] + 1)]
        if "properties" in schema or "additionalProperties" in schema:
            out += self._objects(file, pointer, schema, strict, depth)
        return out

    def _objects(
        self, file: str, pointer: str, schema: dict[str, Any], strict: bool, depth: int
    ) -> list[Any]:
        props: dict[str, Any] = schema.get("properties", {})
        choices: dict[str, list[Any]] = {}
        for name in props:
            where = f"{pointer}/properties/{name.replace('~', '~0').replace('/', '~1')}"
            values = self._values(file, where, strict, depth + 1)
            accept = self._accepts(file, where)
            # values the property accepts first, so that a minimal valid object exists
            values.sort(key=lambda value: not accept(value))
            choices[name] = values[:MAX_VALUES]
        required = [n for n in schema.get("required", []) if n in choices]
        base = {name: choices[name][0] for name in required}
        out: list[Any] = [base, {name: values[0] for name, values in choices.items()}]
        for name, values in choices.items():
            out += [{**base, name: value} for value in values]
        if isinstance(schema.get("additionalProperties"), dict) and not props:
            extra = self._values(file, f"{pointer}/additionalProperties", strict, depth + 1)
            out += [{"k": value} for value in extra[:MAX_VALUES]]
        if strict:
            for name, value in itertools.product([*props, *self._extra_names, "extra"], POOL):
                out.append({**base, name: value})
        return out
