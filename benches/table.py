"""Render the README's "Speed" table from one ``make bench`` run (``reports/bench/latest.json``).

    python -m benches.table                         # the Markdown table on stdout
    python -m benches.table --criterion target/criterion --write
                                                    # first add the Rust (criterion) medians of the same run

Every row comes from the run's own figures: ours, the baseline measured in the same run, their ratio, the
target and whether it was met (``benches/summary.py`` builds the rows from what each area printed).
Criterion results count only if they were written after the pytest part of the run started, so a stale
``target/criterion`` from an earlier run never slips into the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT = Path("reports/bench/latest.json")

# The Rust comparisons crates/*/benches print (criterion ids: ours, baseline) and their targets.
CRITERION_PAIRS = (
    (
        "Rust BarUpdate decode, validated",
        "BarUpdate/decode/contracts BarUpdate",
        "BarUpdate/decode/bare serde struct",
    ),
    ("Rust Signal decode, validated", "Signal/decode/contracts Signal", "Signal/decode/serde_json Value"),
    ("Rust BarUpdate encode", "BarUpdate/encode/contracts BarUpdate", "BarUpdate/encode/bare serde struct"),
    ("Rust v1.1 envelope decode", "v1.1 envelope/decode/v1.1 bar", "v1.1 envelope/decode/v1.0 bar"),
)
# ours' median must stay under this many ns
CRITERION_LIMITS = {"BarUpdate/decode/contracts BarUpdate": 300.0}


def criterion_medians(root: Path, since: float) -> dict[str, float]:
    """Median ns of every criterion benchmark under ``root`` written at or after ``since`` (unix time)."""
    medians: dict[str, float] = {}
    for estimates in sorted(root.glob("**/new/estimates.json")):
        if estimates.stat().st_mtime < since:
            continue
        folder = estimates.parent
        try:
            median = json.loads(estimates.read_text())["median"]["point_estimate"]
            described = folder / "benchmark.json"
            full_id = json.loads(described.read_text())["full_id"] if described.exists() else None
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a half-written or foreign file: not a figure of this run
        medians[full_id or str(folder.parent.relative_to(root))] = float(median)
    return medians


def criterion_rows(medians: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for what, ours, baseline in CRITERION_PAIRS:
        if ours in medians and baseline in medians:
            limit = CRITERION_LIMITS.get(ours)
            rows.append(
                {
                    "area": "rust",
                    "what": what,
                    "ours": ours,
                    "ours_value": medians[ours],
                    "baseline": baseline,
                    "baseline_value": medians[baseline],
                    "unit": "ns",
                    "ratio": medians[ours] / medians[baseline],
                    "ratio_means": "ours/baseline time",
                    "target": f"< {limit:.0f} ns" if limit else "",
                    "verdict": "" if limit is None else ("met" if medians[ours] < limit else "missed"),
                }
            )
    return rows


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}"


def _ratio(row: dict[str, Any]) -> str:
    ratio = row.get("ratio")
    if ratio is None:
        return ""
    return f"{ratio:.2f}x {row.get('ratio_means') or ''}".rstrip()


def render(summary: dict[str, Any]) -> str:
    """The Markdown table: what | ours | baseline, same run | ratio | target | verdict."""
    machine = summary.get("machine", {})
    load = machine.get("loadavg_start") or [float("nan")]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(summary.get("started_unix", 0)))
    lines = [
        f"One `make bench` run, {started}, {summary.get('duration_s', '?')} s of pytest benchmarks, "
        f"{machine.get('cpus', '?')} cores, load average {load[0]:.1f} at the start "
        f"(areas: {', '.join(summary.get('areas', []))}):",
        "",
        "| what | ours | baseline, same run | ratio | target | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for row in [*summary.get("rows", []), *summary.get("criterion_rows", [])]:
        ours = _number(row.get("ours_value"), row["unit"])
        if row.get("note"):
            ours += f" ({row['note']})"
        baseline = (
            f"{row['baseline']}: {_number(row.get('baseline_value'), row['unit'])}" if row["baseline"] else ""
        )
        lines.append(
            f"| {row['what']} | {row['ours']}: {ours} | {baseline} | {_ratio(row)} | {row.get('target', '')} "
            f"| {row.get('verdict', '')} |"
        )
    notes = summary.get("notes", [])
    if notes:
        lines += ["", "Printed figures of the same run:", ""]
        lines += [f"- {note['area']}, {note['name']}: {note['text']}" for note in notes]
    errors = summary.get("errors", [])
    lines += [f"- summary error: {error}" for error in errors]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", nargs="?", type=Path, default=DEFAULT, help=f"default: {DEFAULT}")
    parser.add_argument("--criterion", type=Path, help="add criterion medians written during this run")
    parser.add_argument("--write", action="store_true", help="save them into the summary file too")
    args = parser.parse_args(argv)
    try:
        summary = json.loads(args.summary.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.summary}: {exc} (run `make bench` first)", file=sys.stderr)
        return 1
    if args.criterion is not None:
        medians = criterion_medians(args.criterion, summary.get("started_unix", 0.0))
        summary["criterion"] = medians
        summary["criterion_rows"] = criterion_rows(medians)
        if args.write:
            temporary = args.summary.with_suffix(".tmp")
            temporary.write_text(json.dumps(summary, indent=1) + "\n")
            temporary.replace(args.summary)
    sys.stdout.write(render(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
