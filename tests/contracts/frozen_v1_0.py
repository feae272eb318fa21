"""The real v1.0 codecs, from git: the v1.0-only peers of the mixed-version proofs.

Commit 4e233f7 is the last one before contract v1.1.

- Python: its ``tradebridge.contracts`` package (and the ``tradebridge.errors`` it raises) is read with
  ``git show`` and imported under another top-level name, ``tradebridge_v1_0``, so that both codecs live in
  one process. The only edit is the package name in its own imports.
- Rust: its ``contracts-testee`` (the v1.0 crate behind the conformance line protocol) is built from a
  ``git archive`` of the commit into ``target/compat-v1.0`` (offline, from the local cargo cache; about a
  minute once, then reused while the commit stays the same).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
V1_0_COMMIT = "4e233f7"
PACKAGE = "tradebridge_v1_0"
FILES = (
    "errors.py",
    "contracts/__init__.py",
    "contracts/_values.py",
    "contracts/codec.py",
    "contracts/frames.py",
    "contracts/messages.py",
)


def _show(path: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{V1_0_COMMIT}:sdk/tradebridge/{path}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cannot read {path} at {V1_0_COMMIT}: {done.stderr.strip()}")
    return done.stdout


def load(into: Path) -> ModuleType:
    """Write the v1.0 package under ``into`` and import its ``contracts`` (once per process)."""
    loaded = sys.modules.get(f"{PACKAGE}.contracts")
    if loaded is not None:
        return loaded
    package = into / PACKAGE
    (package / "contracts").mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""tradebridge v1.0 (from git), for mixed-version tests."""\n')
    for path in FILES:
        source = _show(path).replace("tradebridge.contracts", f"{PACKAGE}.contracts")
        source = source.replace("tradebridge.errors", f"{PACKAGE}.errors")
        (package / path).write_text(source)
    sys.path.insert(0, str(into))
    try:
        return importlib.import_module(f"{PACKAGE}.contracts")
    finally:
        sys.path.remove(str(into))


def rust_testee() -> Path:
    """The v1.0 ``contracts-testee``, built on first use."""
    base = ROOT / "target" / "compat-v1.0"
    binary = base / "target" / "release" / "contracts-testee"
    stamp = base / "commit"
    if binary.exists() and stamp.exists() and stamp.read_text() == V1_0_COMMIT:
        return binary
    source = base / "src"
    source.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        [
            "git",
            "-C",
            str(ROOT),
            "archive",
            V1_0_COMMIT,
            "Cargo.toml",
            "Cargo.lock",
            "crates/tradebridge-contracts",
        ],
        capture_output=True,
        timeout=60,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, timeout=60, check=True)
    environment = {**os.environ, "CARGO_TARGET_DIR": str(base / "target")}
    build = ["cargo", "build", "--release", "--offline", "--bin", "contracts-testee"]
    done = subprocess.run(
        build, cwd=source, env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the v1.0 contracts-testee failed:\n{done.stderr[-4000:]}")
    stamp.write_text(V1_0_COMMIT)
    return binary
