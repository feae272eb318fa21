"""Collect this folder's ``bench_*.py`` files and print the ratios the contracts benchmarks promise."""

from __future__ import annotations

import pytest

# (group, codec) -> median seconds, filled in by bench_codecs.py as each benchmark finishes.
MEDIANS: dict[tuple[str, str], float] = {}
# (group, case) -> median seconds, filled in by bench_v1_1.py: the first case of a group is the baseline.
V1_1_MEDIANS: dict[tuple[str, str], float] = {}
V1_1_BUDGET = 1.05


def _v1_1_summary(terminalreporter: pytest.TerminalReporter) -> None:
    write = terminalreporter.write_line
    terminalreporter.section("contract v1.1 overhead (median; before -> after, budget +5%)")
    groups: dict[str, list[tuple[str, float]]] = {}
    for (group, case), median in V1_1_MEDIANS.items():
        groups.setdefault(group, []).append((case, median))
    for group, cases in groups.items():
        base_case, base = cases[0]
        write(f"{group:<21} {base_case:<28} {base * 1e9:7.0f} ns  (baseline)")
        for case, median in cases[1:]:
            ratio = median / base
            verdict = "within" if ratio <= V1_1_BUDGET else "OVER"
            write(f"{group:<21} {case:<28} {median * 1e9:7.0f} ns  {ratio:.3f}x ({verdict} budget)")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if V1_1_MEDIANS:
        _v1_1_summary(terminalreporter)
    if not MEDIANS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("contracts codec ratios (median; lower is faster)")
    for group in sorted({group for group, _ in MEDIANS}):
        sdk = MEDIANS.get((group, "sdk"))
        bare = MEDIANS.get((group, "bare msgspec Struct"))
        for (g, codec), median in sorted(MEDIANS.items(), key=lambda item: item[1]):
            if g == group:
                ratio = f"  sdk/{codec} = {sdk / median:.2f}x" if sdk and codec != "sdk" else ""
                write(f"{group:<21} {codec:<22} {median * 1e9:9.0f} ns{ratio}")
        if sdk and bare and group.endswith("features"):
            write(f"{group:<21} sdk / bare Struct = {sdk / bare:.2f}x (a point of the payload-size curve)")
        if sdk and bare and group.endswith("decode"):
            target = "within" if sdk / bare <= 1.25 else "OUTSIDE"
            write(f"{group:<21} target: sdk within 1.25x of the bare Struct -> {sdk / bare:.2f}x ({target})")
    write(
        "Signal decode over payload size: from 0 to 12 features sdk/bare rises (1.5x -> 1.8x in the run "
        "measured for issue 13): the 12-feature document passes ~230 bytes, where the depth limit's bracket "
        "count starts to run (a second pass over the payload, see codec._deep_floor); from 12 to 1,000 it "
        "falls (-> 1.3x): the fixed part (the call, the ASCII and size tests, __post_init__) is spread over "
        "many values, and what stays is per byte or per value: msgspec's own parsing, the contract's bound "
        "checks on every feature, and the bracket count."
    )
