"""Objects: properties added, removed, made required or optional, and the content model
(``additionalProperties``), judged by the content model of each side and the policy (see ``rules``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tradebridge.contracts.compat.keywords import canon, member, openness

if TYPE_CHECKING:
    from tradebridge.contracts.compat.walk import Walk


def undeclared(schema: dict[str, Any], name: str) -> Any:
    """What ``schema`` demands of a property ``name`` it does not declare: False if closed."""
    for pattern, sub in (schema.get("patternProperties") or {}).items():
        try:
            matches = re.search(pattern, name) is not None
        except re.error:  # a dialect Python's re does not read: assume it applies, the stricter reading
            matches = True
        if matches:
            return sub
    extra = schema.get("additionalProperties", True)
    return {} if extra is True else extra


def compare_object(
    walk: Walk, old_file: str, old: dict[str, Any], new_file: str, new: dict[str, Any], path: str
) -> None:
    if not any(k in s for s in (old, new) for k in ("properties", "required", "additionalProperties")):
        return
    old_props: dict[str, Any] = old.get("properties") or {}
    new_props: dict[str, Any] = new.get("properties") or {}
    old_required, new_required = set(old.get("required") or []), set(new.get("required") or [])
    record = bool(old_props or new_props)
    names = list(old_props) + [n for n in new_props if n not in old_props]
    names += sorted((old_required | new_required) - set(names))
    for name in names:
        where = member(f"{path}.properties", name)
        if name in old_props and name in new_props:
            walk.compare(old_file, old_props[name], new_file, new_props[name], where)
        elif name in new_props:
            _added(walk, old_file, old, new_file, new, name, name in new_required, where)
            continue
        elif name in old_props:
            _removed(walk, old_file, old, new_file, new, name, name in old_required, where)
            continue
        if name in new_required and name not in old_required:
            what = "an existing property became required: old writers may have left it out"
            walk.effect("property_made_required", f"{path}.required", "narrow", what, None, name)
        elif name in old_required and name not in new_required:
            what = "a required property became optional: new writers may leave it out"
            walk.effect("property_made_optional", f"{path}.required", "widen", what, name, None)
    _additional(walk, old_file, old, new_file, new, path, record)


def _added(
    walk: Walk,
    old_file: str,
    old: dict[str, Any],
    new_file: str,
    new: dict[str, Any],
    name: str,
    required: bool,
    path: str,
) -> None:
    schema = new["properties"][name]
    old_extra = undeclared(old, name)
    notes: list[str] = []
    if required:
        backward = False
        notes.append(
            "old writers never wrote it and tradebridge decoders fill in no defaults (BACKWARD breaks)"
        )
    elif walk.policy == "codec" or old_extra is False:
        backward = True
        notes.append("old writers never wrote it (BACKWARD holds)")
    else:
        backward = walk.accepts_all((walk.old, old_file, old_extra), (walk.new, new_file, schema))
        if not backward:
            notes.append(
                "the old object was open: old data may carry that name with any value (BACKWARD breaks)"
            )
    if old_extra is False:
        forward = False
        notes.append("the old schema closes the object, so old readers refuse it (FORWARD breaks)")
    else:
        forward = walk.accepts_all((walk.new, new_file, schema), (walk.old, old_file, old_extra))
        notes.append(
            "old readers accept it as an undeclared property (FORWARD holds)"
            if forward
            else "old readers demand more of an undeclared property than it promises (FORWARD breaks)"
        )
    kind = "required_property_added" if required else "property_added"
    walk.emit(kind, path, backward, forward, "; ".join(notes), None, schema)


def _removed(
    walk: Walk,
    old_file: str,
    old: dict[str, Any],
    new_file: str,
    new: dict[str, Any],
    name: str,
    required: bool,
    path: str,
) -> None:
    schema = old["properties"][name]
    new_extra = undeclared(new, name)
    notes: list[str] = []
    if new_extra is False:
        backward = False
        notes.append(
            "the new schema closes the object: new readers refuse old data carrying it (BACKWARD breaks)"
        )
    else:
        backward = walk.accepts_all((walk.old, old_file, schema), (walk.new, new_file, new_extra))
        notes.append(
            "new readers ignore it in old data (BACKWARD holds)"
            if backward
            else "new readers demand more of an undeclared property than old values meet (BACKWARD fails)"
        )
    if required:
        forward = False
        notes.append("old readers require it and new writers no longer write it (FORWARD breaks)")
    elif walk.policy == "codec" or new_extra is False:
        forward = True
        notes.append("old readers never required it (FORWARD holds)")
    else:
        forward = walk.accepts_all((walk.new, new_file, new_extra), (walk.old, old_file, schema))
        if not forward:
            notes.append(
                "the new object is open: new data may carry that name with any value (FORWARD breaks)"
            )
    kind = "required_property_removed" if required else "property_removed"
    walk.emit(kind, path, backward, forward, "; ".join(notes), schema, None)


def _additional(
    walk: Walk,
    old_file: str,
    old: dict[str, Any],
    new_file: str,
    new: dict[str, Any],
    path: str,
    record: bool,
) -> None:
    was, now = old.get("additionalProperties", True), new.get("additionalProperties", True)
    where = f"{path}.additionalProperties"
    was_rank, now_rank = openness(was), openness(now)
    if record and walk.policy == "codec":
        if was_rank != now_rank:
            kind = (
                "additional_properties_narrowed" if now_rank < was_rank else "additional_properties_widened"
            )
            reason = (
                "a record's content model changed; under the codec policy writers emit only declared "
                "properties, so the property changes carry the verdict"
            )
            walk.emit(kind, where, True, True, reason, was, now)
        return
    if was is False and now is not False:
        walk.effect(
            "additional_properties_widened",
            where,
            "widen",
            "undeclared properties are now allowed",
            was,
            now,
        )
    elif now is False and was is not False:
        walk.effect(
            "additional_properties_narrowed",
            where,
            "narrow",
            "undeclared properties are now refused",
            was,
            now,
        )
    elif canon(was) != canon(now) or isinstance(was, dict):
        walk.compare(old_file, {} if was is True else was, new_file, {} if now is True else now, where)
