"""The whole comparison: two versions of a schema set, message by message (file by file)."""

from __future__ import annotations

from collections.abc import Iterable

from tradebridge.contracts.compat.report import Change, Policy
from tradebridge.contracts.compat.schemas import SchemaSet
from tradebridge.contracts.compat.walk import Walk

__all__ = ["diff_sets"]


def _topics(schemas: SchemaSet) -> set[str]:
    return {str(s["x-topic"]) for s in schemas.files.values() if isinstance(s, dict) and "x-topic" in s}


def _names(*sets: SchemaSet) -> Iterable[str]:
    return sorted(set().union(*(s.files for s in sets)))


def diff_sets(old: SchemaSet, new: SchemaSet, policy: Policy) -> list[Change]:
    """Every change from ``old`` to ``new``, message by message (files in name order)."""
    changes: list[Change] = []
    old_topics = _topics(old)
    for file in _names(old, new):
        walk = Walk(old, new, policy, SchemaSet.message_name(file))
        if file not in new.files:
            reason = "new readers no longer know this message: one still written by an old writer is refused"
            walk.emit("message_removed", "$", False, True, reason)
        elif file not in old.files:
            schema = new.files[file]
            topic = schema.get("x-topic") if isinstance(schema, dict) else None
            is_message = isinstance(schema, dict) and "x-type" in schema
            if topic in old_topics and is_message:
                reason = (
                    f"old readers of topic {topic!r} refuse a message type they do not know (unknown_type)"
                )
                walk.emit("message_added", "$", True, False, reason, None, topic)
            else:
                reason = "a message no old reader receives: old readers never see it"
                walk.emit("message_added", "$", True, True, reason, None, topic)
        else:
            was, now = old.files[file], new.files[file]
            for keyword, kind in (("x-topic", "topic_changed"), ("x-type", "message_type_changed")):
                old_value = was.get(keyword) if isinstance(was, dict) else None
                new_value = now.get(keyword) if isinstance(now, dict) else None
                if old_value != new_value:
                    reason = (
                        f"`{keyword}` is wire identity: each version's readers miss or refuse the other's"
                    )
                    walk.emit(kind, f"$.{keyword}", False, False, reason, old_value, new_value)
            walk.compare(file, was, file, now, "$")
        changes.extend(walk.changes)
    return changes
