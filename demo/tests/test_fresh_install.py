"""The demo as a user gets it: SDK, mocks and demo wheels in a fresh virtualenv outside the checkout.

Slow (a wheel build and a venv with every dependency), so not part of ``make test``:
``make demo-install-check`` runs it. ``TRADEBRIDGE_SDK_WHEEL`` names an SDK wheel to reuse; without it the
SDK wheel is built here with ``maturin build --profile dist``. The Rust binaries come from the checkout's
``target/release`` (``make build``), put on ``PATH`` as ``cargo install`` would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
RELEASE = CHECKOUT / "target" / "release"

pytestmark = pytest.mark.timeout(1200)


def run(
    argv: list[str | Path], timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=False
    )


def sdk_wheel(out: Path) -> Path:
    given = os.environ.get("TRADEBRIDGE_SDK_WHEEL")
    if given:
        return Path(given)
    maturin = Path(sys.executable).with_name("maturin")
    done = run([maturin, "build", "--profile", "dist", "-q", "-o", out], 900, cwd=CHECKOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = out.glob("tradebridge-*.whl")
    return wheel


def pure_wheels(tmp: Path, out: Path) -> list[Path]:
    """mocks and demo wheels, built from copies (the demo's strategy.py is a symlink into examples/, so
    the copy keeps the two directories side by side) so that nothing is written into the checkout."""
    source = tmp / "source"
    for part in ("mocks", "demo", "examples"):
        shutil.copytree(CHECKOUT / part, source / part, symlinks=True, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", "tests"))  # fmt: skip
    done = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out,
                source / "mocks", source / "demo"], 300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return sorted(out.glob("tradebridge_*.whl"))


def test_a_fresh_venv_outside_the_checkout_runs_the_demo(tmp_path: Path) -> None:
    assert (RELEASE / "execution-engine").is_file(), "run 'make build' first"
    wheels = tmp_path / "wheels"
    built = [sdk_wheel(wheels), *pure_wheels(tmp_path, wheels)]
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, bin_dir = env_dir / "bin" / "python", env_dir / "bin"
    done = run([python, "-m", "pip", "install", "-q", *built], 900)
    assert done.returncode == 0, done.stderr[-3000:]

    work = tmp_path / "elsewhere"
    work.mkdir()
    clean = {
        k: v for k, v in os.environ.items() if k not in ("TRADEBRIDGE_BIN_DIR", "VIRTUAL_ENV", "PYTHONPATH")
    }
    with_binaries = {**clean, "PATH": f"{RELEASE}{os.pathsep}{bin_dir}{os.pathsep}/usr/bin:/bin"}
    without_binaries = {**clean, "PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"}

    # the SDK names no command and does not pull matplotlib; the two distributions add theirs
    runtime = (
        "import importlib.metadata as m; print([r for r in m.requires('tradebridge') if 'extra' not in r])"
    )
    requires = run([python, "-c", runtime], 60)
    assert "matplotlib" not in requires.stdout and "numpy" in requires.stdout
    listed = run([bin_dir / "tradebridge", "--help"], 60, env=with_binaries, cwd=work)
    assert listed.returncode == 0
    for command in ("demo", "mock-broker", "mock-publisher"):
        assert command in listed.stdout
    shipped = run([python, "-c", "import tradebridge_demo.run as r; print(r.STRATEGY)"], 60, cwd=work)
    strategy = Path(shipped.stdout.strip())
    assert (
        not strategy.is_symlink()
        and strategy.read_text() == (CHECKOUT / "examples" / "strategy.py").read_text()
    )

    missing = run([bin_dir / "tradebridge", "demo", "--quiet"], 120, env=without_binaries, cwd=work)
    assert missing.returncode == 1
    assert "execution-engine" in missing.stderr and "cargo install --path" in missing.stderr

    demo = run(
        [bin_dir / "tradebridge", "demo", "--bars", "300", "--quiet"], 300, env=with_binaries, cwd=work
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert demo.stdout.count("[ok]") == 3 and "[FAIL]" not in demo.stdout
    report = json.loads((work / "reports" / "demo" / "report.json").read_text())
    assert report["summary"]["bars"] == 900 and report["summary"]["consistent"]
    assert (work / "reports" / "demo" / "latency.png").stat().st_size > 1000
    print(demo.stdout)
