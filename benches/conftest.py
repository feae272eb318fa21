"""Benchmarks are ``bench_*.py`` files (so ``pytest tests`` never picks them up); collect them here.

One collector for the whole folder: ``pytest benches`` and ``pytest benches/<area>`` both work, and no
benchmark is collected twice. After the areas have printed their summaries, the run is written to
``reports/bench/run-<UTC time>.json`` and, if every area ran (``make bench``), to
``reports/bench/latest.json`` (``TRADEBRIDGE_BENCH_SUMMARY`` names one file instead; see
``benches/summary.py``), from which ``python -m benches.table`` renders the README's speed table.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benches.summary import AREAS, collect, snapshot

_STARTED: dict[str, Any] = {}


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    _STARTED.update(unix=time.time(), loadavg=os.getloadavg())


def pytest_collection_finish(session: pytest.Session) -> None:
    _STARTED["tables"] = snapshot()  # the area conftests are imported by now
    benches = Path(__file__).parent
    _STARTED["collected"] = {
        item.path.relative_to(benches).parts[0] for item in session.items if item.path.is_relative_to(benches)
    }


def summary_paths(config: pytest.Config, started: float) -> list[Path]:
    """Where this run's summary goes: its own file, and ``latest.json`` too if every area was collected
    (a partial run, ``pytest benches/<area>``, must not replace the last full run's table)."""
    chosen = os.environ.get("TRADEBRIDGE_BENCH_SUMMARY")
    if chosen:
        return [Path(chosen)]
    folder = config.rootpath / "reports" / "bench"
    paths = [folder / time.strftime("run-%Y%m%dT%H%M%SZ.json", time.gmtime(started))]
    if set(AREAS) <= _STARTED.get("collected", set()):
        paths.append(folder / "latest.json")
    return paths


@pytest.hookimpl(trylast=True)  # after every area's own summary: their tables are complete
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    summary = collect(_STARTED.get("tables"))
    if not summary["raw"]:
        return  # no benchmark ran (collection only, --benchmark-disable, or a filter that kept none)
    finished = time.time()
    started = _STARTED.get("unix", finished)
    summary = {
        "started_unix": started,
        "finished_unix": finished,
        "duration_s": round(finished - started, 1),
        "command": sys.argv[1:],
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_start": _STARTED.get("loadavg"),
            "loadavg_end": os.getloadavg(),
        },
        "areas": sorted(summary["raw"]),
        **summary,
    }
    paths = summary_paths(config, started)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(summary, indent=1) + "\n")
        temporary.replace(path)  # a reader never sees half a file
    terminalreporter.section("one-run summary")
    missed = [r["what"] for r in summary["rows"] if r["verdict"] == "missed"]
    terminalreporter.write_line(
        f"{len(summary['rows'])} rows ({len(missed)} targets missed) from {', '.join(summary['areas'])} "
        f"-> {', '.join(map(str, paths))}; render the README table with: python -m benches.table "
        f"{paths[-1]}"
    )
    for error in summary["errors"]:
        terminalreporter.write_line(f"summary: {error}")
