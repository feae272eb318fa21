"""The verdict of each kind of change: the catalogue of kinds and the reasoning behind each verdict.

Every value-level change moves the set of instances a schema accepts in one direction (its *effect*):

- ``widen``: the new schema accepts everything the old one did and more. BACKWARD holds (a new reader
  accepts old data), FORWARD does not (an old reader may refuse new data).
- ``narrow``: the reverse: FORWARD holds, BACKWARD does not.
- ``change``: each accepts something the other refuses (a new ``pattern``, another ``const``): neither.
- ``neutral``: annotations (``description``, ``title``, ``default``, ``format``...): both hold.

Property-level changes depend on the content model and on the *policy*:

- ``codec`` (default): the robust reader the tradebridge codecs implement. Writers emit only the
  properties their schema declares; readers ignore properties they do not declare unless the schema
  closes the object (``additionalProperties: false``). So adding an optional property is safe both
  ways, as ``contracts/README.md`` promises for minor versions.
- ``strict``: plain validator semantics, as Confluent Schema Registry's STRICT JSON Schema checks: an
  open object may carry *any* undeclared property with *any* value, so declaring a new property (which
  now constrains that name) narrows what an open schema accepts.
"""

from __future__ import annotations

from typing import Final, Literal

Effect = Literal["widen", "narrow", "change", "neutral"]

__all__ = ["KINDS", "Effect", "by_effect", "effect_reason"]

# kind -> what it means; the stable catalogue (contracts/README.md shows it as a table, checked by a test).
KINDS: Final[dict[str, str]] = {
    "message_added": "a schema file appears",
    "message_removed": "a schema file disappears",
    "topic_changed": "`x-topic` differs",
    "message_type_changed": "`x-type` differs",
    "property_added": "a new optional property",
    "required_property_added": "a new property, required",
    "property_removed": "an optional property disappears",
    "required_property_removed": "a required property disappears",
    "property_made_required": "an existing property becomes required",
    "property_made_optional": "a required property becomes optional",
    "type_widened": "`type` accepts more JSON types (`number` -> `[number, null]`, `integer` -> `number`)",
    "type_narrowed": "`type` accepts fewer JSON types",
    "type_changed": "`type` accepts other JSON types (`string` -> `number`)",
    "enum_value_added": "one value more in `enum`/`const`",
    "enum_value_removed": "one value less in `enum`/`const`",
    "enum_added": "an `enum`/`const` where there was none",
    "enum_removed": "an `enum`/`const` disappears",
    "bound_tightened": "`minimum`/`maximum`/`exclusive*`/`min*`/`max*`/`multipleOf`/`uniqueItems` stricter",
    "bound_loosened": "the same bounds more lenient or removed",
    "bound_changed": "`multipleOf` changed to a value neither a multiple nor a divisor of the old one",
    "pattern_added": "a `pattern` where there was none",
    "pattern_removed": "a `pattern` disappears",
    "pattern_changed": "a `pattern` changes (any edit: regex inclusion is not decided)",
    "additional_properties_narrowed": "`additionalProperties` stricter (`true` -> schema -> `false`)",
    "additional_properties_widened": "`additionalProperties` more lenient",
    "schema_narrowed": "a subschema becomes `false` (or `true` becomes a constraint)",
    "schema_widened": "a subschema becomes `true` (or `false` becomes a constraint)",
    "branch_added": "one branch more in `anyOf`/`oneOf` (widens) or `allOf` (narrows)",
    "branch_removed": "one branch less in `anyOf`/`oneOf` (narrows) or `allOf` (widens)",
    "combinator_added": "an `anyOf`/`oneOf`/`allOf` where there was none",
    "combinator_removed": "an `anyOf`/`oneOf`/`allOf` disappears",
    "keyword_changed": "a keyword the checker does not reason about (`not`, `if`, `patternProperties`...)",
    "annotation_changed": "`title`, `description`, `default`, `examples`, `format`, `$comment`, `x-*`...",
}

_EFFECT_OUTCOME: Final[dict[Effect, tuple[bool, bool]]] = {
    "widen": (True, False),
    "narrow": (False, True),
    "change": (False, False),
    "neutral": (True, True),
}

_EFFECT_REASON: Final[dict[Effect, str]] = {
    "widen": "the new schema accepts values the old one refused: old readers may refuse new data",
    "narrow": "the new schema refuses values the old one accepted: new readers may refuse old data",
    "change": "each schema accepts values the other refuses: neither reader is safe with the other's data",
    "neutral": "annotation only: no instance is accepted or refused differently",
}


def by_effect(effect: Effect) -> tuple[bool, bool]:
    """(backward, forward) of a change with this effect."""
    return _EFFECT_OUTCOME[effect]


def effect_reason(what: str, effect: Effect) -> str:
    return f"{what}; {_EFFECT_REASON[effect]}"
