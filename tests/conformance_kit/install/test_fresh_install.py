"""The kit as a user gets it: the SDK wheel in a fresh virtualenv outside the checkout. ``conformance codec``
judges the Node testee and the broken one; then ``conformance health``: without the ``kit`` extra it names
the extra, with it schemathesis runs the wheel's own copy of the health OpenAPI document against the Rust
health server.

Slow (a wheel build and a venv with every dependency), so ``make test`` skips it and
``make kit-install-check`` runs it (``TRADEBRIDGE_KIT_INSTALL_CHECK=1``). ``TRADEBRIDGE_SDK_WHEEL`` names a
wheel to reuse; without it one is built here with ``maturin build``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from tradebridge.testing import Service, rust_binary

CHECKOUT = Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.timeout(1500),
    pytest.mark.skipif(
        os.environ.get("TRADEBRIDGE_KIT_INSTALL_CHECK") != "1", reason="slow: run by make kit-install-check"
    ),
]


def run(argv: list[str | Path], timeout: float, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "TRADEBRIDGE_BIN_DIR")
    }
    return subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=clean,
        check=False,
    )


def sdk_wheel(out: Path) -> Path:
    given = os.environ.get("TRADEBRIDGE_SDK_WHEEL")
    if given:
        return Path(given)
    maturin = Path(sys.executable).with_name("maturin")
    profile = os.environ.get("TRADEBRIDGE_WHEEL_PROFILE", "release")
    done = run([maturin, "build", "--profile", profile, "-q", "-o", out], 1200, cwd=CHECKOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("tradebridge-*.whl")
    return wheel


def test_the_installed_kit_judges_the_node_testee_and_the_broken_one(tmp_path: Path) -> None:
    wheel = sdk_wheel(tmp_path / "wheels")
    names = zipfile.ZipFile(wheel).namelist()
    prefix = "tradebridge/conformance/vectors/"
    # codec vectors are vectors/<message>/{y,n}_*.json; other suites keep their own data beside them
    shipped = [
        n
        for n in names
        if n.startswith(prefix) and n.count("/") == 4 and n.rsplit("/", 1)[1][:2] in ("y_", "n_")
    ]
    assert len(shipped) >= 179, "the codec vectors are package data"
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    done = run([bin_dir / "python", "-m", "pip", "install", "-q", wheel], 900)
    assert done.returncode == 0, done.stderr[-3000:]
    tradebridge = bin_dir / "tradebridge"
    # the checkout is only where the two testees live; the kit itself comes from the wheel
    node = run([tradebridge, "conformance", "codec", "--testee", "node conformance/testees/node/testee.js",
                "--json", tmp_path / "node.json"], 120, cwd=CHECKOUT)  # fmt: skip
    assert node.returncode == 0, node.stdout + node.stderr
    report = json.loads((tmp_path / "node.json").read_text())
    assert report["conformant"] and report["counts"] == {"pass": len(shipped)}
    broken_testee = f"{bin_dir / 'python'} conformance/testees/broken/testee.py"
    broken = run([tradebridge, "conformance", "codec", "--testee", broken_testee], 120, cwd=CHECKOUT)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert (
        "FAIL  signal/n_nan_literal:" in broken.stdout and "FAIL  heartbeat/y_with_status:" in broken.stdout
    )
    help_text = run([tradebridge, "--help"], 60).stdout
    assert "conformance" in help_text
    print(node.stdout.splitlines()[-1], broken.stdout.splitlines()[-1], sep="\n")
    check_health_from_the_wheel(wheel, names, bin_dir, tmp_path)


def check_health_from_the_wheel(wheel: Path, names: list[str], bin_dir: Path, tmp_path: Path) -> None:
    """``conformance health``: without the kit extra a typed error naming it; with it, schemathesis runs the
    OpenAPI document the wheel ships (its ``../v1`` schemas beside it) against the Rust health server."""
    shipped = {"tradebridge/conformance/contracts/openapi/health.openapi.yaml",
               "tradebridge/conformance/contracts/v1/health.schema.json",
               "tradebridge/conformance/contracts/v1/readiness.schema.json"}  # fmt: skip
    assert shipped <= set(names), sorted(shipped - set(names))
    tradebridge = bin_dir / "tradebridge"
    probe: list[str | Path] = [
        rust_binary("health-probe-server"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--component",
        "kit",
    ]
    with Service("health-probe-server", probe, ready_line=r"listening (\S+)", stdin=True) as server:
        assert server.ready_match is not None
        url = "http://" + server.ready_match.group(1)
        bare = run([tradebridge, "conformance", "health", url], 120, cwd=tmp_path)
        assert bare.returncode == 2 and "pip install 'tradebridge[kit]'" in bare.stderr, bare.stderr
        done = run([bin_dir / "python", "-m", "pip", "install", "-q", f"{wheel}[kit]"], 900)
        assert done.returncode == 0, done.stderr[-3000:]
        report = tmp_path / "health.json"
        health = run([tradebridge, "conformance", "health", url, "--json", report], 300, cwd=tmp_path)
        assert health.returncode == 0, health.stdout + health.stderr
    body = json.loads(report.read_text())
    document = Path(body["schemathesis"]["document"])
    assert document.is_relative_to(bin_dir.parent), f"{document} is not the installed package data"
    assert body["schemathesis"]["stop_reason"] == "completed" and body["schemathesis"]["failures"] == []
    print(health.stdout.splitlines()[-2], health.stdout.splitlines()[-1], sep="\n")
