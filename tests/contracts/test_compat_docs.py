"""``contracts/README.md`` tells the evolution rules as the checker enforces them: every change kind is in
its table, and every row with one kind and one verdict per mode is proved by a vector with that verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tradebridge.contracts.compat import KINDS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "contracts" / "README.md"
VECTORS = ROOT / "conformance" / "vectors" / "compat"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Versions and evolution")
    return text[start : text.index("\n## ", start + 1)]


def _rows() -> list[list[str]]:
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in _section().splitlines()
        if line.startswith("| ")
    ]
    return [row for row in rows if row[0] != "change"]  # the header


def test_every_kind_is_in_the_table() -> None:
    named = {kind for row in _rows() for kind in re.findall(r"`([a-z_]+)`", row[1])}
    assert set(KINDS) - named == set(), "kinds missing from the README table"
    assert named - set(KINDS) == set(), "the README table names kinds the checker does not have"


def test_single_verdict_rows_are_proved_by_vectors() -> None:
    proved = {
        (item["kind"], item["backward"], item["forward"])
        for path in VECTORS.glob("*/*.json")
        for item in json.loads(path.read_text())["expected"]
    }
    checked = 0
    for change, kind_cell, backward, forward, _minor in _rows():
        kinds = re.findall(r"`([a-z_]+)`", kind_cell)
        if len(kinds) != 1 or backward not in {"yes", "no"} or forward not in {"yes", "no"}:
            continue
        verdict = (kinds[0], backward == "yes", forward == "yes")
        assert verdict in proved, f"README row {change!r} claims {verdict}, which no vector proves"
        checked += 1
    assert checked >= 25


def test_minor_column_is_full_compatibility() -> None:
    """'in a minor' is yes exactly where both modes hold."""
    for change, _kind, backward, forward, minor in _rows():
        if backward in {"yes", "no"} and forward in {"yes", "no"}:
            both = backward == "yes" and forward == "yes"
            assert minor.replace("*", "").startswith("yes") == both, change
