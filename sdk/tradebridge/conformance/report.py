"""Reports of a codec run: JSON (machines), JUnit XML (CI), one HTML page (people: expected vs got)."""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

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
