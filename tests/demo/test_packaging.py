"""The demo distribution's wheel: the example strategy inside it (one source), its command declared, its
dependencies its own. (The whole install, in a fresh venv: ``make demo-install-check``.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_the_example_strategy_and_declares_the_demo_command(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for part in ("demo", "examples"):  # side by side, as the symlink demo/.../strategy.py expects
        shutil.copytree(CHECKOUT / part, source / part, symlinks=True, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__", "tests"))  # fmt: skip
    assert (source / "demo" / "tradebridge_demo" / "strategy.py").is_symlink()  # one copy in the checkout
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source / "demo")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("tradebridge_demo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("tradebridge_demo/strategy.py").decode()
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
        entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert shipped == (CHECKOUT / "examples" / "strategy.py").read_text()
    assert "[tradebridge.commands]\ndemo = tradebridge_demo.cli:main" in entry_points
    requires = {r.split(">")[0].split(";")[0].strip() for r in metadata.get_all("Requires-Dist") or []}
    assert requires == {"tradebridge", "tradebridge-mocks", "matplotlib"}
