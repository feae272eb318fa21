"""Reports: JSON (machines), JUnit XML (CI), one HTML page (people): for a codec run the failing vectors,
expected vs got; for the health and latency commands one row per check, with its evidence."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradebridge.conformance.chart import svg_histogram
from tradebridge.conformance.health import HealthRun
from tradebridge.conformance.latency import LatencyRun
from tradebridge.conformance.runner import FAILING, CodecRun


def to_json(run: CodecRun) -> dict[str, Any]:
    return {
        "kind": "codec",
        "testee": run.testee,
        "implementation": run.implementation,
        "conformant": run.conformant,
        "seconds": round(run.seconds, 3),
        "restarts": run.restarts,
        "counts": run.counts(),
        "verdicts": [verdict.to_json() for verdict in run.verdicts],
    }


def write_json(run: CodecRun, path: Path) -> None:
    path.write_text(json.dumps(to_json(run), indent=2, default=repr) + "\n", encoding="utf-8")


def write_junit(run: CodecRun, path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name=f"tradebridge conformance codec: {run.implementation or run.testee}",
        tests=str(len(run.verdicts)),
        failures=str(sum(v.status == "fail" or v.status == "stale_known_failure" for v in run.verdicts)),
        errors=str(sum(v.status in ("crash", "timeout", "protocol_error") for v in run.verdicts)),
        skipped=str(sum(v.status in ("known_failure", "unsupported") for v in run.verdicts)),
        time=f"{run.seconds:.3f}",
    )
    for verdict in run.verdicts:
        case = ET.SubElement(
            suite, "testcase", classname="codec", name=verdict.vector, time=f"{verdict.seconds:.6f}"
        )
        detail = f"{verdict.problem}\nexpected: {json.dumps(verdict.expected, default=repr)}\n"
        detail += f"got:      {json.dumps(verdict.got, default=repr)}"
        if verdict.status in ("fail", "stale_known_failure"):
            ET.SubElement(case, "failure", message=verdict.problem or verdict.status).text = detail
        elif verdict.status in FAILING:
            ET.SubElement(case, "error", type=verdict.status, message=verdict.problem or "").text = detail
        elif verdict.status != "pass":
            ET.SubElement(case, "skipped", message=f"{verdict.status}: {verdict.problem}")
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def write_html(run: CodecRun, path: Path) -> None:
    def pretty(value: Any) -> str:
        return html.escape(json.dumps(value, indent=2, default=repr))

    rows = []
    for verdict in run.verdicts:
        if verdict.status == "pass":
            continue
        rows.append(
            f"<tr class='{verdict.status}'><td><code>{html.escape(verdict.vector)}</code><br>"
            f"{html.escape(verdict.description)}</td>"
            f"<td>{verdict.status}<br>{html.escape(verdict.problem or '')}"
            f"</td><td><pre>{pretty(verdict.expected)}</pre></td><td><pre>{pretty(verdict.got)}</pre></td></tr>"
        )
    counts = ", ".join(f"{status}: {count}" for status, count in sorted(run.counts().items()))
    verdict_text = "conformant" if run.conformant else "NOT conformant"
    path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>tradebridge conformance</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td{{border:1px solid #ccc;vertical-align:top;padding:.4em}}pre{{margin:0;font-size:.85em}}
tr.fail td,tr.crash td,tr.timeout td,tr.protocol_error td,tr.stale_known_failure td{{background:#fdecea}}
tr.known_failure td,tr.unsupported td{{background:#fff8e1}}</style></head><body>
<h1>Codec conformance: {verdict_text}</h1>
<p>Testee <code>{html.escape(run.testee)}</code> ({html.escape(run.implementation)}); {len(run.verdicts)}
vectors in {run.seconds:.2f} s; {html.escape(counts)}.</p>
<table><tr><th>vector</th><th>verdict</th><th>expected</th><th>got</th></tr>{"".join(rows)}</table>
</body></html>
""",
        encoding="utf-8",
    )


# The other commands' reports: one row per check, a JUnit testcase each, the same one-page HTML style.

STYLE = """body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #ccc;vertical-align:top;padding:.4em;text-align:left}pre{margin:0;font-size:.85em;
white-space:pre-wrap}tr.fail td{background:#fdecea}tr.pass td{background:#f1f8e9}"""


@dataclass
class CheckRow:
    group: str
    name: str
    problem: str | None
    #: what a failure shows beside its problem: the evidence, and a line that reproduces it
    detail: str = ""


def write_rows_junit(suite_name: str, rows: list[CheckRow], seconds: float, path: Path) -> None:
    suite = ET.Element("testsuite", name=suite_name, tests=str(len(rows)),
                       failures=str(sum(row.problem is not None for row in rows)), errors="0",
                       skipped="0", time=f"{seconds:.3f}")  # fmt: skip
    for row in rows:
        case = ET.SubElement(suite, "testcase", classname=row.group, name=row.name, time="0")
        if row.problem is not None:
            ET.SubElement(case, "failure", message=row.problem).text = row.detail or row.problem
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def write_page(path: Path, title: str, intro: str, body: str) -> None:
    """``intro`` and ``body`` are HTML already escaped by the caller."""
    path.write_text(
        f"""<!doctype html><html><head><meta charset="utf-8"><title>tradebridge conformance</title>
<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{intro}{body}</body></html>
""",
        encoding="utf-8",
    )


def rows_table(rows: list[CheckRow]) -> str:
    ordered = sorted(rows, key=lambda row: row.problem is None)  # failures first
    cells = "".join(
        f"<tr class='{'pass' if row.problem is None else 'fail'}'><td><code>{html.escape(row.group)}</code> "
        f"{html.escape(row.name)}</td><td>{'ok' if row.problem is None else html.escape(row.problem)}</td>"
        f"<td><pre>{html.escape(row.detail)}</pre></td></tr>"
        for row in ordered
    )
    return f"<table><tr><th>check</th><th>verdict</th><th>evidence, reproduction</th></tr>{cells}</table>"


def health_rows(run: HealthRun) -> list[CheckRow]:
    rows = [CheckRow("health.rules", check, problem) for check, problem in run.checks.items()]
    if run.openapi is None:
        return rows
    for check, counts in sorted(run.openapi.checks.items()):
        failures = [failure for failure in run.openapi.failures if failure.check == check]
        problem = None
        if failures:
            operations = ", ".join(f"{failure.operation}: {failure.title}" for failure in failures)
            problem = f"{check} failed on {operations}"
        detail = "\n\n".join(
            f"{failure.operation} ({failure.occurrences}x): {failure.message}\nreproduce: {failure.reproduce}"
            for failure in failures
        ) or ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))
        rows.append(CheckRow("health.schemathesis", check, problem, detail))
    if run.openapi.errors or run.openapi.stop_reason != "completed":
        detail = "\n".join(run.openapi.errors)
        rows.append(CheckRow("health.schemathesis", "run", f"stopped: {run.openapi.stop_reason}", detail))
    return rows


def write_health_html(run: HealthRun, path: Path) -> None:
    verdict = "conformant" if run.conformant else "NOT conformant"
    judged = "the hand-written rules only" if run.openapi is None else "the rules and schemathesis"
    intro = f"<p><code>{html.escape(run.url)}</code>, judged by {judged}.</p>"
    write_page(path, f"Health API conformance: {verdict}", intro, rows_table(health_rows(run)))


def latency_rows(run: LatencyRun) -> list[CheckRow]:
    figures = run.percentiles()
    p99 = f"p99 {figures['p99']:.3f} ms" if figures else "no samples"
    over = next((p for p in run.problems() if p.startswith(("p99", "no answer"))), None)
    never = next((p for p in run.problems() if "never answered" in p), None)
    return [
        CheckRow("latency", f"p99 within {run.budget_p99_ms:g} ms", over, p99),
        CheckRow("latency", "every signal answered", never, f"{run.answered}/{run.sent} answered"),
    ]


def write_latency_html(run: LatencyRun, path: Path, service: str) -> None:
    figures = run.percentiles()
    markers = {"budget": run.budget_p99_ms}
    markers.update({name: figures[name] for name in ("p50", "p99") if name in figures})
    table = "".join(f"<tr><th>{name}</th><td>{value:.3f} ms</td></tr>" for name, value in figures.items())
    verdict = "within budget" if run.conformant else "NOT within budget"
    intro = (
        f"<p>Signals to <code>{html.escape(service)}</code>, order updates timed back by "
        f"<code>signal_id</code>: {run.answered}/{run.sent} answered; p99 budget {run.budget_p99_ms:g} ms "
        "(HDR histogram, three significant digits).</p>"
    )
    chart = svg_histogram(run.buckets(), markers)
    body = f"{chart}<table style='width:auto'>{table}</table><h2>Checks</h2>{rows_table(latency_rows(run))}"
    write_page(path, f"Latency: {verdict}", intro, body)
