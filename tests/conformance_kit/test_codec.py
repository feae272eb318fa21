"""``tradebridge conformance codec`` against real testee processes: ours, a foreign one, broken ones."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from tradebridge.conformance import ProcessTestee, load_vectors, run_codec
from tradebridge.conformance.cli import main

from tests.conformance_kit.conftest import CHECKOUT, misbehaving

VECTORS = load_vectors()
BY_ID = {vector.id: vector for vector in VECTORS}
PROTOCOL_SCHEMA = json.loads((CHECKOUT / "conformance" / "protocol.schema.json").read_text())


def codec(command: list[str], *extra: str) -> int:
    return main(["codec", "--testee", shlex.join(command), *extra])


def test_the_vectors_ship_inside_the_package_and_the_checkout_path_points_there() -> None:
    import tradebridge.conformance as kit

    package = Path(kit.__file__).resolve().parent / "vectors"
    assert len(VECTORS) >= 150 and all(vector.path.is_relative_to(package) for vector in VECTORS)
    assert (CHECKOUT / "conformance" / "vectors").resolve() == package


@pytest.mark.parametrize("testee", ["python", "rust", "node"])
def test_our_testees_and_the_foreign_one_pass_every_vector(
    testee: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = request.getfixturevalue(f"{testee}_testee_command")
    report = tmp_path / "report.json"
    assert codec(command, "--json", str(report)) == 0, capsys.readouterr().out
    body = json.loads(report.read_text())
    assert body["conformant"] and body["counts"] == {"pass": len(VECTORS)}
    print(f"{testee}: {len(VECTORS)} vectors in {body['seconds']} s")


@pytest.mark.parametrize("testee", ["python", "rust", "node"])
def test_every_testee_speaks_the_documented_protocol(testee: str, request: pytest.FixtureRequest) -> None:
    validator = jsonschema.Draft202012Validator(PROTOCOL_SCHEMA)
    requests = [
        {
            "op": "decode",
            "message": "bar_update",
            "payload_hex": BY_ID["bar_update/y_guide_market_bar"].payload.hex(),
        },
        {"op": "decode", "message": "signal", "payload_hex": BY_ID["signal/n_nan_literal"].payload.hex()},
        {"op": "decode_frame", "payload_hex": BY_ID["frames/y_market_bar"].payload.hex()},
        {"op": "encode", "message": "signal", "value": BY_ID["signal/y_minimal"].canonical},
        {
            "op": "roundtrip",
            "message": "bar_update",
            "payload_hex": BY_ID["bar_update/y_guide_market_bar"].payload.hex(),
        },
    ]
    with ProcessTestee(request.getfixturevalue(f"{testee}_testee_command")) as process:
        assert process.options == ["max_size", "allow_nan_tokens"]
        for body in requests:
            validator.validate({"id": 1, **body})
            answer = process.request(body.pop("op"), **body)
            errors = [e.message for e in validator.iter_errors(answer)]
            assert not errors, f"{testee} answered {answer}: {errors}"
        assert (
            process.request("encode", message="signal", value={"symbol": "AAPL"})["code"] == "missing_field"
        )


def drift_vectors() -> set[str]:
    """What the broken testee's three drifts touch, read from the vectors themselves."""
    expected = set()
    for vector in VECTORS:
        if vector.valid:
            value = vector.canonical["value"] if vector.message == "frame" else vector.canonical
            if value.get("type") in ("Signal", "Heartbeat"):
                expected.add(vector.id)
        elif vector.code == "invalid_json" and any(t in vector.payload for t in (b"NaN", b"Infinity")):
            expected.add(vector.id)
    return expected


def test_the_broken_testee_fails_exactly_the_vectors_its_drift_touches(
    broken_testee_command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    assert codec(broken_testee_command, "--json", str(report)) == 1
    printed = capsys.readouterr().out
    failing = {v["vector"] for v in json.loads(report.read_text())["verdicts"] if v["status"] == "fail"}
    assert failing == drift_vectors()
    for vector_id in ("signal/n_nan_literal", "heartbeat/y_with_status", "signal/y_guide_signal"):
        assert vector_id in failing and f"FAIL  {vector_id}:" in printed


def test_a_known_failure_list_makes_it_pass_and_goes_stale_when_a_listed_vector_passes(
    broken_testee_command: list[str], tmp_path: Path
) -> None:
    known = tmp_path / "known.txt"
    known.write_text("# the drift we accept for now\n" + "\n".join(sorted(drift_vectors())) + "\n")
    assert codec(broken_testee_command, "--known-failures", str(known)) == 0
    known.write_text(known.read_text() + "bar_update/y_guide_market_bar\n")
    report = tmp_path / "report.json"
    assert codec(broken_testee_command, "--known-failures", str(known), "--json", str(report)) == 1
    stale = [
        v["vector"]
        for v in json.loads(report.read_text())["verdicts"]
        if v["status"] == "stale_known_failure"
    ]
    assert stale == ["bar_update/y_guide_market_bar"]


def test_the_original_rust_types_disagree_with_the_contract_on_every_signal(
    original_testee_command: list[str], tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    assert codec(original_testee_command, "--json", str(report)) == 1
    verdicts = {v["vector"]: v for v in json.loads(report.read_text())["verdicts"]}
    valid_signals = {v.id for v in VECTORS if v.valid and v.message == "signal"}
    # every one it could run (it declares no allow_nan_tokens option) fails: not a single Signal agrees
    ran = {i for i in valid_signals if verdicts[i]["status"] != "unsupported"}
    assert len(ran) >= 15 and all(verdicts[i]["status"] == "fail" for i in ran)
    # The original Python publisher's bytes: the original Rust side cannot read them (no action field).
    published = verdicts["signal/y_signal_generated_alias_original"]["got"]
    assert published == {"ok": False, "code": "missing_field", "path": "$.action"}
    # Its DateTime<Utc> timestamps refuse the guide's epoch integers, even on a bar.
    assert verdicts["bar_update/y_guide_market_bar"]["got"]["code"] == "wrong_type"
    assert verdicts["bar_update/y_guide_market_bar"]["got"]["path"] == "$.timestamp"


@pytest.mark.parametrize(
    ("mode", "status"),
    [("crash", "crash"), ("hang", "timeout"), ("junk", "protocol_error"), ("out_of_order", "protocol_error")],
)
def test_a_misbehaving_testee_gets_a_verdict_per_vector_and_the_run_goes_on(mode: str, status: str) -> None:
    chosen = ["bar_update/y_guide_market_bar", "signal/n_nan_literal"]
    vectors = [BY_ID[i] for i in ("bar_update/n_missing_close", *chosen, "signal/y_minimal")]
    command = misbehaving(mode, *(BY_ID[i].payload.hex() for i in chosen))
    with ProcessTestee(command, timeout=0.5) as testee:
        run = run_codec(testee, vectors)
    statuses = {v.vector: v.status for v in run.verdicts}
    assert statuses == {
        "bar_update/n_missing_close": "pass",
        chosen[0]: status,
        chosen[1]: status,
        "signal/y_minimal": "pass",
    }
    assert run.restarts == 2 and not run.conformant


def test_a_testee_that_cannot_run_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert codec(misbehaving("refuse_hello")) == 2
    assert "refused protocol 1" in capsys.readouterr().err
    assert codec(["/nonexistent/testee"]) == 2
    assert codec([sys.executable, "-c", "print('hello?')"]) == 2


def test_the_reports_show_the_failing_vectors_side_by_side(
    broken_testee_command: list[str], tmp_path: Path
) -> None:
    junit, page = tmp_path / "codec.xml", tmp_path / "codec.html"
    assert (
        codec(broken_testee_command, "--only", "heartbeat/", "--junit", str(junit), "--html", str(page)) == 1
    )
    suite = ET.parse(junit).getroot()
    failed = {case.get("name") for case in suite if case.find("failure") is not None}
    assert failed == {i for i in drift_vectors() if i.startswith("heartbeat/")}
    assert int(suite.get("tests", "0")) == len([v for v in VECTORS if v.id.startswith("heartbeat/")])
    html = page.read_text()
    assert "NOT conformant" in html and "heartbeat/y_with_status" in html
    assert "&quot;schema_version&quot;: &quot;1.0&quot;" in html  # the expected side shows what was dropped


def test_the_pytest_plugin_runs_the_same_checks(
    broken_testee_command: list[str], python_testee_command: list[str], tmp_path: Path
) -> None:
    plugin = ["-p", "no:tradebridge", "-p", "tradebridge.conformance.pytest_plugin", "-p", "no:cacheprovider"]
    base = [sys.executable, "-m", "pytest", *plugin, "-q", "--rootdir", str(tmp_path)]

    def pytest_run(command: list[str], *extra: str) -> subprocess.CompletedProcess[str]:
        argv = [*base, f"--tradebridge-testee={shlex.join(command)}", *extra]
        return subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)

    good = pytest_run(python_testee_command, "--tradebridge-report", str(tmp_path / "reports"))
    assert good.returncode == 0 and f"{len(VECTORS)} passed" in good.stdout, good.stdout[-2000:]
    assert json.loads((tmp_path / "reports" / "codec.json").read_text())["conformant"]
    bad = pytest_run(broken_testee_command)
    assert bad.returncode == 1
    assert f"{len(drift_vectors())} failed" in bad.stdout
    assert "FAILED ::tradebridge_codec[signal/n_nan_literal]" in bad.stdout
