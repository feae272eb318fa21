"""The structural walk: two versions of each message schema side by side, every ``$ref`` followed, one
:class:`~tradebridge.contracts.compat.report.Change` per difference with its verdict in both directions.

The checker is conservative: where it cannot prove a direction safe (a changed ``pattern``, a keyword it
does not reason about, an equivalent rewrite in another form) it says incompatible. Recursive schemas
(``json_value``) are walked once per path: a pair already on the walk's stack is taken as equal, the
usual fixpoint for recursive types.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

from tradebridge.contracts.compat.keywords import (
    ANNOTATIONS,
    HANDLED,
    LENGTHS,
    MAX_DEPTH,
    MAX_REF_HOPS,
    NOT_SIBLINGS,
    allowed_values,
    bound,
    canon,
    covers,
    is_message_ref,
    stricter,
    types_of,
)
from tradebridge.contracts.compat.objects import compare_object
from tradebridge.contracts.compat.report import Change, Policy
from tradebridge.contracts.compat.rules import Effect, by_effect, effect_reason
from tradebridge.contracts.compat.schemas import CompatError, SchemaSet

__all__ = ["Walk"]


class Walk:
    """Compares a writer-side set (``old``) with a reader-side set (``new``) and collects changes."""

    def __init__(self, old: SchemaSet, new: SchemaSet, policy: Policy, message: str) -> None:
        self.old = old
        self.new = new
        self.policy = policy
        self.message = message
        self.changes: list[Change] = []
        self._stack: set[tuple[tuple[str, int, str], tuple[str, int, str]]] = set()

    # -- output ---------------------------------------------------------------------------------------
    def emit(
        self,
        kind: str,
        path: str,
        backward: bool,
        forward: bool,
        reason: str,
        old: Any = None,
        new: Any = None,
    ) -> None:
        self.changes.append(Change(self.message, kind, path, backward, forward, reason, old, new))

    def effect(
        self, kind: str, path: str, effect: Effect, what: str, old: Any = None, new: Any = None
    ) -> None:
        backward, forward = by_effect(effect)
        self.emit(kind, path, backward, forward, effect_reason(what, effect), old, new)

    def accepts_all(self, writer: tuple[SchemaSet, str, Any], reader: tuple[SchemaSet, str, Any]) -> bool:
        """Whether ``reader`` accepts every instance ``writer`` accepts, as far as the checker can tell."""
        sub = Walk(writer[0], reader[0], self.policy, self.message)
        sub.compare(writer[1], writer[2], reader[1], reader[2], "$")
        return all(change.backward for change in sub.changes)

    # -- walk -----------------------------------------------------------------------------------------
    @staticmethod
    def deref(schemas: SchemaSet, file: str, schema: Any) -> tuple[str, Any, tuple[str, int, str]]:
        """The schema ``schema`` stands for, and a key that names it for cycle detection."""
        key = (file, id(schema), "")
        for _ in range(MAX_REF_HOPS):
            if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str)):
                return file, schema, key
            target = schemas.resolve(file, schema["$ref"])
            # only assertions beside a $ref change what it accepts (annotations and $defs do not)
            siblings = {k: v for k, v in schema.items() if k not in ANNOTATIONS and k not in NOT_SIBLINGS}
            file, schema = target.file, target.schema
            key = (file, id(schema), canon(siblings) if siblings else "")
            if siblings and isinstance(schema, dict):
                # 2020-12 lets $ref sit beside other keywords (both apply): merged, the siblings' word last
                schema = {**schema, **siblings}
        raise CompatError("unresolved_ref", f"more than {MAX_REF_HOPS} $ref hops (a $ref loop?)", file)

    def compare(self, old_file: str, old: Any, new_file: str, new: Any, path: str) -> None:
        old_file, old, old_key = self.deref(self.old, old_file, old)
        new_file, new, new_key = self.deref(self.new, new_file, new)
        key = (old_key, new_key)
        if key in self._stack:
            return
        if len(self._stack) >= MAX_DEPTH:
            where = f"{self.new.label}/{self.message}"
            raise CompatError("too_deep", f"{path}: schemas nested deeper than {MAX_DEPTH}", where)
        self._stack.add(key)
        try:
            self._compare(old_file, old, new_file, new, path)
        finally:
            self._stack.discard(key)

    def _compare(self, old_file: str, old: Any, new_file: str, new: Any, path: str) -> None:
        if old is True:
            old = {}
        if new is True:
            new = {}
        if old is False or new is False:
            if old is not new:
                if new is False:
                    self.effect(
                        "schema_narrowed", path, "narrow", "the schema now refuses everything", old, new
                    )
                else:
                    self.effect(
                        "schema_widened", path, "widen", "the schema no longer refuses everything", old, new
                    )
            return
        if not (isinstance(old, dict) and isinstance(new, dict)):
            where = f"{self.new.label}/{self.message}"
            raise CompatError("not_a_schema", f"{path} is neither a JSON object nor a boolean", where)
        self._annotations(old, new, path)
        self._type(old, new, path)
        self._values(old, new, path)
        self._numeric_bounds(old, new, path)
        self._lengths(old, new, path)
        self._pattern(old, new, path)
        compare_object(self, old_file, old, new_file, new, path)
        self._items(old_file, old, new_file, new, path)
        for keyword in ("anyOf", "oneOf", "allOf"):
            self._combinator(keyword, old_file, old, new_file, new, path)
        for keyword in sorted(set(old) | set(new)):
            if keyword in HANDLED or keyword in ANNOTATIONS or keyword.startswith("x-"):
                continue
            if canon(old.get(keyword)) != canon(new.get(keyword)):
                what = f"`{keyword}` changed and the checker does not reason about it"
                self.effect(
                    "keyword_changed", f"{path}.{keyword}", "change", what, old.get(keyword), new.get(keyword)
                )

    def _annotations(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        for keyword in sorted(set(old) | set(new)):
            is_annotation = keyword in ANNOTATIONS or (keyword.startswith("x-") and keyword not in HANDLED)
            if is_annotation and canon(old.get(keyword)) != canon(new.get(keyword)):
                what = f"`{keyword}` changed"
                self.effect(
                    "annotation_changed",
                    f"{path}.{keyword}",
                    "neutral",
                    what,
                    old.get(keyword),
                    new.get(keyword),
                )

    def _type(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        was, now = types_of(old), types_of(new)
        wider, narrower = covers(now, was), covers(was, now)
        if wider and narrower:
            return
        old_value, new_value = old.get("type"), new.get("type")
        if wider:
            self.effect(
                "type_widened",
                f"{path}.type",
                "widen",
                "`type` accepts more JSON types",
                old_value,
                new_value,
            )
        elif narrower:
            what = "`type` accepts fewer JSON types"
            self.effect("type_narrowed", f"{path}.type", "narrow", what, old_value, new_value)
        else:
            what = "`type` accepts other JSON types"
            self.effect("type_changed", f"{path}.type", "change", what, old_value, new_value)

    def _values(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        was, now = allowed_values(old), allowed_values(new)
        if was is None and now is None:
            return
        if was is None:
            assert now is not None
            what = f"`{now[0]}` now limits the values"
            self.effect(
                "enum_added",
                f"{path}.{now[0]}",
                "narrow",
                what,
                None,
                now[1] if now[0] == "enum" else now[1][0],
            )
            return
        if now is None:
            what = f"`{was[0]}` no longer limits the values"
            self.effect(
                "enum_removed", f"{path}.{was[0]}", "widen", what, was[1] if was[0] == "enum" else was[1][0]
            )
            return
        old_keys = {canon(v): v for v in was[1]}
        new_keys = {canon(v): v for v in now[1]}
        for key, value in old_keys.items():
            if key not in new_keys:
                what = f"value {key} is no longer allowed"
                self.effect("enum_value_removed", f"{path}.{now[0]}", "narrow", what, value, None)
        for key, value in new_keys.items():
            if key not in old_keys:
                self.effect(
                    "enum_value_added",
                    f"{path}.{now[0]}",
                    "widen",
                    f"value {key} is now allowed",
                    None,
                    value,
                )

    def _numeric_bounds(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        for lower in (True, False):
            was, now = bound(old, lower), bound(new, lower)
            if was is None and now is None:
                continue
            if was is not None and now is not None and was[:2] == now[:2]:
                continue
            keyword = (now or was)[2]  # type: ignore[index]
            side = "lower" if lower else "upper"
            old_value = None if was is None else {was[2]: was[0]}
            new_value = None if now is None else {now[2]: now[0]}
            if now is None or (was is not None and stricter(was, now, lower)):
                what = f"the {side} bound is relaxed or removed"
                self.effect("bound_loosened", f"{path}.{keyword}", "widen", what, old_value, new_value)
            else:
                what = f"the {side} bound is added or stricter"
                self.effect("bound_tightened", f"{path}.{keyword}", "narrow", what, old_value, new_value)
        self._multiple_of(old, new, path)
        if bool(old.get("uniqueItems")) != bool(new.get("uniqueItems")):
            if new.get("uniqueItems"):
                what = "array items must now be unique"
                self.effect(
                    "bound_tightened", f"{path}.uniqueItems", "narrow", what, old.get("uniqueItems"), True
                )
            else:
                what = "array items may now repeat"
                self.effect(
                    "bound_loosened", f"{path}.uniqueItems", "widen", what, True, new.get("uniqueItems")
                )

    def _multiple_of(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        was, now = old.get("multipleOf"), new.get("multipleOf")
        if was == now:
            return
        where = f"{path}.multipleOf"
        if was is None:
            self.effect("bound_tightened", where, "narrow", "`multipleOf` added", None, now)
        elif now is None:
            self.effect("bound_loosened", where, "widen", "`multipleOf` removed", was, None)
        else:
            ratio = Fraction(str(was)) / Fraction(str(now))
            if ratio.denominator == 1:
                self.effect("bound_loosened", where, "widen", "`multipleOf` divides the old one", was, now)
            elif (1 / ratio).denominator == 1:
                self.effect(
                    "bound_tightened", where, "narrow", "`multipleOf` is a multiple of the old one", was, now
                )
            else:
                what = "`multipleOf` is neither a multiple nor a divisor of the old one"
                self.effect("bound_changed", where, "change", what, was, now)

    def _lengths(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        for keyword, is_min in LENGTHS:
            default = 0 if is_min else math.inf
            was, now = old.get(keyword, default), new.get(keyword, default)
            if was == now:
                continue
            tighter = now > was if is_min else now < was
            old_value, new_value = old.get(keyword), new.get(keyword)
            if tighter:
                self.effect(
                    "bound_tightened",
                    f"{path}.{keyword}",
                    "narrow",
                    f"`{keyword}` is stricter",
                    old_value,
                    new_value,
                )
            else:
                what = f"`{keyword}` is more lenient"
                self.effect("bound_loosened", f"{path}.{keyword}", "widen", what, old_value, new_value)

    def _pattern(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        was, now = old.get("pattern"), new.get("pattern")
        if was == now:
            return
        where = f"{path}.pattern"
        if was is None:
            self.effect("pattern_added", where, "narrow", "strings must now match a pattern", None, now)
        elif now is None:
            self.effect(
                "pattern_removed", where, "widen", "strings no longer have to match a pattern", was, None
            )
        else:
            what = "the pattern changed (the checker does not decide regex inclusion)"
            self.effect("pattern_changed", where, "change", what, was, now)

    # -- objects --------------------------------------------------------------------------------------
    def _items(
        self, old_file: str, old: dict[str, Any], new_file: str, new: dict[str, Any], path: str
    ) -> None:
        if "items" not in old and "items" not in new:
            return
        self.compare(old_file, old.get("items", {}), new_file, new.get("items", {}), f"{path}.items")

    def _combinator(
        self, keyword: str, old_file: str, old: dict[str, Any], new_file: str, new: dict[str, Any], path: str
    ) -> None:
        was, now = old.get(keyword), new.get(keyword)
        if was is None and now is None:
            return
        where = f"{path}.{keyword}"
        if was is None:
            self.effect(
                "combinator_added", where, "narrow", f"`{keyword}` now constrains the value", None, now
            )
            return
        if now is None:
            self.effect(
                "combinator_removed", where, "widen", f"`{keyword}` no longer constrains the value", was, None
            )
            return
        unmatched_new = list(range(len(now)))
        pairs: list[tuple[int, int]] = []
        unmatched_old: list[int] = []
        for i, branch in enumerate(was):
            key = canon(branch)
            j = next((j for j in unmatched_new if canon(now[j]) == key), None)
            if j is None:
                unmatched_old.append(i)
            else:
                unmatched_new.remove(j)
                pairs.append((i, j))
        # what is left pairs up in order (an edited branch); the rest was added or removed
        pairs += list(zip(unmatched_old, unmatched_new, strict=False))
        extra_old = unmatched_old[len(unmatched_new) :]
        extra_new = unmatched_new[len(unmatched_old) :]
        for i, j in pairs:
            same = canon(was[i]) == canon(now[j])
            if (
                same
                and is_message_ref(self.old, old_file, was[i])
                and is_message_ref(self.new, new_file, now[j])
            ):
                continue
            self.compare(old_file, was[i], new_file, now[j], f"{where}[{j}]")
        sum_type = keyword != "allOf"
        for j in extra_new:
            effect: Effect = "widen" if sum_type else "narrow"
            what = f"one branch more in `{keyword}`" + (
                " (a new variant)" if sum_type else " (one more constraint)"
            )
            self.effect("branch_added", f"{where}[{j}]", effect, what, None, now[j])
        for i in extra_old:
            effect = "narrow" if sum_type else "widen"
            what = f"one branch less in `{keyword}`" + (
                " (a variant gone)" if sum_type else " (one constraint less)"
            )
            self.effect("branch_removed", f"{where}[{i}]", effect, what, was[i], None)
