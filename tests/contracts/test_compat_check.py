"""``tradebridge contracts check`` on the real contract: the frozen 1.0 against ``contracts/v1``, a v1.1-style
minor (optional fields only) that must pass both ways, and deliberately breaking edits that must fail."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tradebridge.contracts.compat import CompatError, check, check_history, history
from tradebridge.contracts.compat.cli import main

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "contracts" / "released"
V1_0 = RELEASED / "1.0"
V1 = ROOT / "contracts" / "v1"


def _edit(directory: Path, message: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = directory / f"{message}.schema.json"
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2))


@pytest.fixture
def draft(tmp_path: Path) -> Path:
    """A copy of the released 1.0 schemas to edit (``contracts/v1`` holds the v1.1 fields already)."""
    return Path(shutil.copytree(V1_0, tmp_path / "v1", ignore=shutil.ignore_patterns("SHA256SUMS")))


def test_released_1_0_is_frozen() -> None:
    """The release is byte for byte what was shipped: its SHA256SUMS lists every file."""
    sums = dict(
        reversed(line.split("  ", 1))
        for line in (V1_0 / "SHA256SUMS").read_text().splitlines()
        if line.strip()
    )
    files = {path.name: path for path in V1_0.glob("*.schema.json")}
    assert set(files) == set(sums)
    for name, path in files.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sums[name], f"{name} was edited after release"


def test_v1_is_backward_and_forward_compatible_with_1_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(V1_0), str(V1)]) == 0
    out = capsys.readouterr().out
    assert "compatible: BACKWARD, FORWARD" in out.splitlines()
    for mode in ("BACKWARD", "FORWARD", "FULL"):
        assert check(V1_0, V1, mode=mode).compatible
    # the minor-version rule: FULL against every release
    assert main(["check", "--transitive", "--mode", "FULL", str(RELEASED), str(V1)]) == 0
    assert all(report.compatible for report in check_history(history(RELEASED), V1, "FULL"))


def test_minor_with_optional_fields_passes_both_ways(draft: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What v1.1 will do: optional fields (inline, through $defs, nullable, nested) on several messages."""

    def signal(schema: dict[str, Any]) -> None:
        schema["properties"]["horizon_ms"] = {"$ref": "#/$defs/millis"}
        schema["properties"]["model"] = {"type": "string", "minLength": 1, "maxLength": 64}

    def bar(schema: dict[str, Any]) -> None:
        schema["properties"]["exchange"] = {"type": ["string", "null"], "maxLength": 16}

    def order(schema: dict[str, Any]) -> None:
        schema["properties"]["legs"] = {
            "type": "array",
            "items": {"type": "object", "properties": {"symbol": {"$ref": "#/$defs/symbol"}}},
        }

    _edit(draft, "signal", signal)
    _edit(draft, "bar_update", bar)
    _edit(draft, "order_update", order)
    report = check(V1_0, draft, mode="FULL")
    assert report.compatible
    assert sorted((c.message, c.kind, c.path) for c in report.changes) == [
        ("bar_update", "property_added", "$.properties.exchange"),
        ("order_update", "property_added", "$.properties.legs"),
        ("signal", "property_added", "$.properties.horizon_ms"),
        ("signal", "property_added", "$.properties.model"),
    ]
    assert main(["check", "--mode", "FULL", str(V1_0), str(draft)]) == 0
    assert "compatible: BACKWARD, FORWARD" in capsys.readouterr().out


def _stricter_symbol(schema: dict[str, Any]) -> None:
    schema["$defs"]["symbol"]["pattern"] = "^[A-Z]+$"


def _no_short(schema: dict[str, Any]) -> None:
    schema["properties"]["direction"]["enum"].remove("short")


def _required_model(schema: dict[str, Any]) -> None:
    schema["properties"]["model"] = {"type": "string"}
    schema["required"].append("model")


@pytest.mark.parametrize(
    ("change", "kind", "path", "reason"),
    [
        (_stricter_symbol, "pattern_changed", "$.properties.symbol.pattern", "regex inclusion"),
        (_no_short, "enum_value_removed", "$.properties.direction.enum", "no longer allowed"),
        (_required_model, "required_property_added", "$.properties.model", "old writers never wrote it"),
    ],
    ids=["stricter-symbol-pattern", "enum-value-removed", "required-field-added"],
)
def test_breaking_edit_fails(
    draft: Path,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[dict[str, Any]], None],
    kind: str,
    path: str,
    reason: str,
) -> None:
    _edit(draft, "signal", change)
    assert main(["check", str(V1_0), str(draft)]) == 1
    out = capsys.readouterr().out
    assert f"signal {path}: {kind}" in out
    assert reason in out
    assert f"breaks BACKWARD: signal {path} ({kind})" in out
    (breaking,) = check(V1_0, draft).breaking
    assert (breaking.kind, breaking.path) == (kind, path)


def test_forward_only_break_passes_backward(draft: Path) -> None:
    """A new enum value: new readers read old data (BACKWARD, the default, exits 0), old readers do not."""
    _edit(draft, "order_update", lambda s: s["properties"]["side"]["enum"].append("short"))
    assert main(["check", str(V1_0), str(draft)]) == 0
    assert main(["check", "--mode", "forward", str(V1_0), str(draft)]) == 1
    assert main(["check", "--mode", "FULL", str(V1_0), str(draft)]) == 1


def test_json_output(draft: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(draft, "signal", _no_short)
    assert main(["check", "--json", str(V1_0), str(draft)]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["compatible"] is False
    (report,) = body["reports"]
    assert report["compatible_modes"] == ["FORWARD"]
    (change,) = report["changes"]
    assert change["kind"] == "enum_value_removed"
    assert change["path"] == "$.properties.direction.enum"
    assert (change["backward"], change["forward"], change["full"]) == (False, True, False)
    assert change["old"] == "short"


def test_transitive_checks_every_release(
    tmp_path: Path, draft: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A name retired in 1.1 and reused with another type in 1.2 passes against 1.1 but not against 1.0."""
    released = tmp_path / "released"
    shutil.copytree(V1_0, released / "1.0")
    v1_1 = Path(shutil.copytree(V1_0, released / "1.1"))
    _edit(v1_1, "order_update", lambda s: s["properties"].pop("reason"))
    shutil.copytree(v1_1, released / "1.10")  # ordered by number: 1.10 is the newest, not between 1.0 and 1.1
    assert [p.name for p in history(released)] == ["1.0", "1.1", "1.10"]
    _edit(draft, "order_update", lambda s: s["properties"].__setitem__("reason", {"type": "integer"}))
    assert main(["check", str(released), str(draft)]) == 0  # against the newest only, as Schema Registry
    assert main(["check", "--transitive", str(released), str(draft)]) == 1
    out = capsys.readouterr().out
    assert "order_update $.properties.reason.type: type_changed" in out
    reports = check_history(history(released), draft)
    assert [Path(r.old).name for r in reports] == ["1.10", "1.1", "1.0"]
    assert [r.compatible for r in reports] == [True, True, False]


def test_strict_policy_reports_the_validator_view(draft: Path) -> None:
    """Confluent's STRICT view of an open record: an added optional field breaks BACKWARD."""
    _edit(draft, "heartbeat", lambda s: s["properties"].__setitem__("uptime_s", {"type": "integer"}))
    assert check(V1_0, draft).compatible
    (change,) = check(V1_0, draft, policy="strict").changes
    assert (change.kind, change.backward, change.forward) == ("property_added", False, True)
    assert "open" in change.reason


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda d: shutil.rmtree(d), "not_a_directory"),
        (lambda d: [p.unlink() for p in d.glob("*.json")], "no_schemas"),
        (lambda d: (d / "signal.schema.json").write_text("{not json"), "invalid_json"),
        (lambda d: (d / "signal.schema.json").write_text("[1]"), "not_a_schema"),
        (
            lambda d: _edit(
                d, "signal", lambda s: s["properties"]["symbol"].update({"$ref": "#/$defs/nope"})
            ),
            "unresolved_ref",
        ),
        (
            lambda d: _edit(
                d, "signal", lambda s: s["properties"]["symbol"].update({"$ref": "x.schema.json"})
            ),
            "unresolved_ref",
        ),
    ],
    ids=["missing", "empty", "invalid-json", "not-a-schema", "dangling-ref", "ref-outside-set"],
)
def test_unreadable_sets_exit_2(
    draft: Path, capsys: pytest.CaptureFixture[str], setup: Any, code: str
) -> None:
    setup(draft)
    with pytest.raises(CompatError) as caught:
        check(V1_0, draft)
    assert caught.value.code == code
    assert main(["check", str(V1_0), str(draft)]) == 2
    assert code in capsys.readouterr().err


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(V1)]) == 2
    assert main(["check", "--mode", "SIDEWAYS", str(V1_0), str(V1)]) == 2
    assert main([]) == 2
    capsys.readouterr()
    with pytest.raises(CompatError) as caught:
        check(V1_0, V1, mode="SIDEWAYS")
    assert caught.value.code == "invalid_mode"
    with pytest.raises(CompatError) as caught:
        check(V1_0, V1, policy="lenient")
    assert caught.value.code == "invalid_policy"


def test_command_line_process(draft: Path) -> None:
    """The module as a real process: stdout, exit status, nothing on stderr."""
    _edit(draft, "signal", _stricter_symbol)
    command = [sys.executable, "-m", "tradebridge.contracts.compat.cli", "check"]
    ok = subprocess.run(
        [*command, str(V1_0), str(V1)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.splitlines()[-2:] == ["compatible: BACKWARD, FORWARD", "BACKWARD: compatible"]
    bad = subprocess.run(
        [*command, str(V1_0), str(draft)], capture_output=True, text=True, timeout=60, check=False
    )
    assert bad.returncode == 1
    assert "signal $.properties.symbol.pattern: pattern_changed" in bad.stdout
