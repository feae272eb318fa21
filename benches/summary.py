"""One machine-readable summary of a ``make bench`` run: every figure, ratio, target and verdict printed.

Each area's ``conftest.py`` keeps its measurements in module-level tables (``MEDIANS``, ``RATIOS``,
``LIMITS``, ``EXTRA``, ``FIGURES``...) and prints them at the end of the run. ``benches/conftest.py``
calls :func:`collect` once they are filled and writes the result to ``reports/bench/latest.json``;
``benches/table.py`` renders the README's speed table from that file. The tables are read, never changed,
and an area whose tables do not have the expected shape is reported under ``errors`` instead of failing
the run: the raw tables are always kept, so nothing measured is lost.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

AREAS = ("alpaca", "bus", "capture", "contracts", "features", "health", "scale")

Row = dict[str, Any]


def row(
    area: str,
    what: str,
    ours: str,
    ours_value: float | None,
    baseline: str | None,
    baseline_value: float | None,
    unit: str,
    ratio: float | None = None,
    ratio_means: str = "",
    target: str = "",
    met: bool | None = None,
) -> Row:
    """One line of the speed table: ours and the baseline of the same run, their ratio, the target."""
    return {
        "area": area,
        "what": what,
        "ours": ours,
        "ours_value": ours_value,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "unit": unit,
        "ratio": ratio,
        "ratio_means": ratio_means,
        "target": target,
        "verdict": "" if met is None else ("met" if met else "missed"),
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def raw_tables(module: ModuleType) -> dict[str, Any]:
    """Every upper-case dict of an area's conftest, keys flattened (tuple keys joined by `` | ``)."""
    tables: dict[str, Any] = {}
    for name, value in vars(module).items():
        if name.isupper() and isinstance(value, dict) and value:
            tables[name] = {
                " | ".join(map(str, key)) if isinstance(key, tuple) else str(key): _json_value(item)
                for key, item in value.items()
            }
    return tables


def _alpaca(m: ModuleType) -> Iterator[Row]:
    for operation in sorted({op for op, _ in m.MEDIANS}):
        ours, bare = m.MEDIANS.get((operation, "tradebridge")), m.MEDIANS.get((operation, "alpaca-py"))
        if ours and bare:
            yield row(
                "alpaca",
                f"Alpaca adapter, {operation}",
                "tradebridge",
                ours * 1e6,
                "bare alpaca-py",
                bare * 1e6,
                "us",
                ours / bare,
                "ours/baseline time",
            )


def _bus(m: ModuleType) -> Iterator[Row]:
    for group in sorted({group for group, _ in m.MEDIANS}):
        ours, baseline, per_round, target = m.RATIOS[group]
        for candidate, against, limit in [(ours, baseline, target), *m.MORE_RATIOS.get(group, [])]:
            if (group, candidate) in m.MEDIANS and (group, against) in m.MEDIANS:
                mine, theirs = m.MEDIANS[(group, candidate)], m.MEDIANS[(group, against)]
                yield row(
                    "bus",
                    group,
                    candidate,
                    mine / per_round * 1e6,
                    against,
                    theirs / per_round * 1e6,
                    "us/msg",
                    theirs / mine,
                    "speed relative to the baseline",
                    f">= {limit}",
                    theirs / mine >= limit,
                )


def _capture(m: ModuleType) -> Iterator[Row]:
    for group in sorted({group for group, _ in m.MEDIANS}):
        ours, baseline, per_round, limit = m.LIMITS[group]
        if (group, ours) in m.MEDIANS and (group, baseline) in m.MEDIANS:
            mine, theirs = m.MEDIANS[(group, ours)], m.MEDIANS[(group, baseline)]
            yield row(
                "capture",
                group,
                ours,
                mine / per_round * 1e6,
                baseline,
                theirs / per_round * 1e6,
                "us/msg",
                mine / theirs,
                "ours/baseline time",
                f"<= {limit}x",
                mine / theirs <= limit,
            )


def _contracts(m: ModuleType) -> Iterator[Row]:
    bare = "bare msgspec Struct"
    limit = getattr(m, "DECODE_LIMIT", 1.25)
    interleaved = getattr(m, "INTERLEAVED", {})
    for (group, codec), sdk in interleaved.items():
        if codec == "sdk" and (group, bare) in interleaved:
            base = interleaved[(group, bare)]
            yield row(
                "contracts",
                f"Python {group}, validated (interleaved)",
                "sdk",
                sdk * 1e9,
                bare,
                base * 1e9,
                "ns",
                sdk / base,
                "ours/baseline time",
                f"<= {limit}x",
                sdk / base <= limit,
            )
    for group in sorted({group for group, _ in m.MEDIANS}):
        sdk, base = m.MEDIANS.get((group, "sdk")), m.MEDIANS.get((group, bare))
        if sdk and base:
            yield row(
                "contracts",
                f"Python {group}",
                "sdk",
                sdk * 1e9,
                bare,
                base * 1e9,
                "ns",
                sdk / base,
                "ours/baseline time",
            )
    steps = getattr(m, "STEPS", {})
    for case in dict.fromkeys(case for case, _ in steps):
        points = [(step, median) for (c, step), median in steps.items() if c == case]
        (first, base), before = points[0], points[0][1]
        for step, median in points[1:]:
            yield {
                **row(
                    "contracts",
                    f"Python {case} decode, step {step}",
                    step,
                    median * 1e9,
                    first,
                    base * 1e9,
                    "ns",
                    median / base,
                    "time relative to the bare Struct",
                ),
                "note": f"this step {(median - before) * 1e9:+.0f} ns",
            }
            before = median
    budget = getattr(m, "V1_1_BUDGET", 1.05)
    groups: dict[str, list[tuple[str, float]]] = {}
    for (group, case), median in m.V1_1_MEDIANS.items():
        groups.setdefault(group, []).append((case, median))
    for group, cases in groups.items():
        base_case, base = cases[0]
        for case, median in cases[1:]:
            yield row(
                "contracts",
                f"contract v1.1 overhead, {group}",
                case,
                median * 1e9,
                base_case,
                base * 1e9,
                "ns",
                median / base,
                "after/before time",
                f"<= {budget}x",
                median / base <= budget,
            )


def _features(m: ModuleType) -> Iterator[Row]:
    table: dict[str, float] = m.INTERLEAVED or m.PER_BAR
    how = "interleaved" if m.INTERLEAVED else "own benchmark"

    def pair(
        what: str,
        ours: str,
        base: str,
        ratio: Callable[[float, float], float],
        means: str,
        target: str,
        ok: Callable[[float], bool] | None,
    ) -> Iterator[Row]:
        if ours in table and base in table:
            value = ratio(table[ours], table[base])
            yield row(
                "features",
                f"{what} ({how})",
                ours,
                table[ours] * 1e9,
                base,
                table[base] * 1e9,
                "ns/bar",
                value,
                means,
                target,
                None if ok is None else ok(value),
            )

    floor = "streaming/python_floor"
    yield from pair(
        "streaming, compute_streaming per bar",
        "streaming/rust_compute_streaming",
        floor,
        lambda a, b: a / b,
        "ours/floor time",
        "<= 1.2x",
        lambda r: r <= 1.2,
    )
    yield from pair(
        "streaming, compute_into per bar",
        "streaming/rust_compute_into",
        floor,
        lambda a, b: a / b,
        "ours/floor time",
        "<= 1.1x",
        lambda r: r <= 1.1,
    )
    yield from pair(
        "streaming, against the pure-Python reference",
        "streaming/rust_compute_streaming",
        "streaming/python_reference",
        lambda a, b: b / a,
        "times faster",
        ">= 5x",
        lambda r: r >= 5,
    )
    out = "batch/rust_compute_batch_out"
    if out in table:
        ns = table[out] * 1e9
        yield from (
            {
                **r,
                "target": "<= 16 ns/bar, >= 2.5x",
                "verdict": "met" if ns <= 16 and r["ratio"] >= 2.5 else "missed",
            }
            for r in pair(
                "batch over 1M bars, reused out=",
                out,
                "batch/talib_columns",
                lambda a, b: b / a,
                "times faster",
                "",
                None,
            )
        )
    faults = getattr(m, "PAGE_FAULTS", {}).get("batch/rust_compute_batch")
    for r in pair(
        "batch over 1M bars, fresh result",
        "batch/rust_compute_batch",
        "batch/talib_matrix",
        lambda a, b: b / a,
        "times faster",
        "",
        None,
    ):
        yield {**r, "note": f"{faults} minor page faults per call" if faults is not None else ""}
    for curve in sorted({name for name, _ in m.CURVES}):
        points = sorted((n, t) for (name, n), t in m.CURVES.items() if name == curve)
        base_n, base_t = points[0]
        for n, t in points[1:]:
            yield row(
                "features",
                f"cost curve, {curve}, {n:,} (vs {base_n:,})",
                curve,
                t * 1e9,
                f"{base_n:,}",
                base_t * 1e9,
                "ns/bar",
                t / base_t,
                "per-bar cost relative to the first point",
            )


def _health(m: ModuleType) -> Iterator[Row]:
    for instrument in sorted({name for name, _ in m.MEDIANS}):
        ours, base = (
            m.MEDIANS.get((instrument, "tradebridge")),
            m.MEDIANS.get((instrument, "prometheus_client")),
        )
        if ours and base:
            yield row(
                "health",
                f"health instrument, {instrument}",
                "tradebridge",
                ours * 1e9,
                "prometheus_client",
                base * 1e9,
                "ns",
                ours / base,
                "ours/baseline time",
            )
    limit = getattr(m, "P99_LIMIT", 2.0)
    for variant, r in m.BURSTS.items():
        idle, loaded = r["idle"], r["burst"]
        ratio = loaded["p99_us"] / max(idle["p99_us"], 1)
        native = variant == "python-native"
        yield row(
            "health",
            f"main-loop 1 ms tick p99 under a 10k-request burst, {variant}",
            "burst",
            loaded["p99_us"],
            "idle",
            idle["p99_us"],
            "us",
            ratio,
            "burst p99 / idle p99",
            f"<= {limit}x" if native else "",
            (ratio <= limit) if native else None,
        )


_ADAPTERS: dict[str, Callable[[ModuleType], Iterator[Row]]] = {
    "alpaca": _alpaca,
    "bus": _bus,
    "capture": _capture,
    "contracts": _contracts,
    "features": _features,
    "health": _health,
}

# the printed-only figures (text) of each area: name of the table
_TEXT = {"bus": "EXTRA", "capture": "EXTRA", "scale": "FIGURES"}


def snapshot() -> dict[str, Any]:
    """The areas' tables as they are before any benchmark ran (some hold configuration from import on)."""
    modules = {area: sys.modules.get(f"benches.{area}.conftest") for area in AREAS}
    return {area: raw_tables(module) for area, module in modules.items() if module is not None}


def collect(before: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rows, printed-only figures, raw tables and adapter errors of every area whose tables changed since
    ``before`` (a :func:`snapshot`), that is, every area that measured something in this process."""
    rows: list[Row] = []
    notes: list[dict[str, str]] = []
    raw: dict[str, Any] = {}
    errors: list[str] = []
    for area in AREAS:
        module = sys.modules.get(f"benches.{area}.conftest")
        if module is None:
            continue
        tables = raw_tables(module)
        if not tables or tables == (before or {}).get(area):
            continue  # the area did not run
        raw[area] = tables
        adapter = _ADAPTERS.get(area)
        try:
            if adapter is not None:
                rows.extend(adapter(module))
        except (AttributeError, KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            errors.append(f"{area}: {type(exc).__name__}: {exc} (its raw tables are kept)")
        text = getattr(module, _TEXT.get(area, ""), None)
        if isinstance(text, dict):
            notes.extend({"area": area, "name": str(k), "text": str(v)} for k, v in text.items())
    return {"rows": _json_value(rows), "notes": notes, "raw": raw, "errors": errors}
