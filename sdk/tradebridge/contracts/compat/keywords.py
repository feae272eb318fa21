"""What the walk knows about JSON Schema keywords: which are annotations, which it reasons about, and the
small pure functions that read a keyword's meaning (the JSON types accepted, an effective bound)."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from tradebridge.contracts.compat.schemas import SchemaSet

ANNOTATIONS: Final = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$id",
        "$schema",
        "$anchor",
        "$vocabulary",
        "format",  # an annotation in 2020-12 unless format assertion is switched on; the codecs never are
        "contentMediaType",
        "contentEncoding",
    }
)
LENGTHS: Final = (
    ("minLength", True),
    ("maxLength", False),
    ("minItems", True),
    ("maxItems", False),
    ("minProperties", True),
    ("maxProperties", False),
    ("minContains", True),
    ("maxContains", False),
)
# Keywords with their own rules below; anything else is compared verbatim (keyword_changed).
HANDLED: Final = frozenset(
    {
        "$ref",
        "$defs",
        "definitions",
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "uniqueItems",
        "pattern",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "anyOf",
        "oneOf",
        "allOf",
        "x-topic",
        "x-type",
        *(keyword for keyword, _ in LENGTHS),
    }
)
NOT_SIBLINGS: Final = frozenset({"$ref", "$defs", "definitions"})
MAX_REF_HOPS: Final = 64
MAX_DEPTH: Final = 64  # nested subschemas; the codecs' own nesting limit for documents is 64 too


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def member(path: str, name: str) -> str:
    """``path.name``, or ``path['na.me']`` for a name that is not an identifier."""
    return f"{path}.{name}" if _NAME.match(name) else f"{path}[{json.dumps(name)}]"


def canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def types_of(schema: dict[str, Any]) -> set[str] | None:
    value = schema.get("type")
    if value is None:
        return None
    return {value} if isinstance(value, str) else {str(v) for v in value}


def covers(reader: set[str] | None, writer: set[str] | None) -> bool:
    """Every JSON type in ``writer`` is accepted by ``reader`` (an integer is a number)."""
    if reader is None:
        return True
    if writer is None:
        return False
    return all(t in reader or (t == "integer" and "number" in reader) for t in writer)


def allowed_values(schema: dict[str, Any]) -> tuple[str, list[Any]] | None:
    if "const" in schema:
        return "const", [schema["const"]]
    if "enum" in schema and isinstance(schema["enum"], list):
        return "enum", list(schema["enum"])
    return None


def bound(schema: dict[str, Any], lower: bool) -> tuple[float, bool, str] | None:
    """The effective lower (upper) bound: (value, exclusive, keyword), the stricter of the two keywords."""
    inclusive, exclusive = ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
    found = []
    if isinstance(schema.get(inclusive), (int, float)) and not isinstance(schema.get(inclusive), bool):
        found.append((float(schema[inclusive]), False, inclusive))
    if isinstance(schema.get(exclusive), (int, float)) and not isinstance(schema.get(exclusive), bool):
        found.append((float(schema[exclusive]), True, exclusive))
    if not found:
        return None
    sign = 1 if lower else -1
    return max(found, key=lambda b: (sign * b[0], b[1]))


def stricter(a: tuple[float, bool, str], b: tuple[float, bool, str], lower: bool) -> bool:
    """Bound ``a`` refuses something bound ``b`` accepts."""
    if a[0] != b[0]:
        return a[0] > b[0] if lower else a[0] < b[0]
    return a[1] and not b[1]


def openness(additional: Any) -> int:
    """0 closed (``false``), 1 partially open (a schema), 2 open (``true``/absent)."""
    if additional is True or additional == {}:
        return 2
    return 0 if additional is False else 1


def is_message_ref(schemas: SchemaSet, file: str, branch: Any) -> bool:
    """A branch that is only a ``$ref`` to the root of another file: that message is checked on its own."""
    if not (isinstance(branch, dict) and set(branch) == {"$ref"} and isinstance(branch["$ref"], str)):
        return False
    target = schemas.resolve(file, branch["$ref"])
    return target.is_root and target.file != file
