"""The real v1.0 codecs, from git: the v1.0-only peers of the mixed-version proofs.

Commit 4e233f7 is the last one before contract v1.1.

- Python: its ``tradebridge.contracts`` package (and the ``tradebridge.errors`` it raises) is read with
  ``git show`` and imported under another top-level name, ``tradebridge_v1_0``, so that both codecs live in
  one process. The only edit is the package name in its own imports.
- Rust: its ``contracts-testee`` (the v1.0 crate behind the conformance line protocol) is built from a
  ``git archive`` of the commit by :func:`build_frozen_binary` (offline, sharing the workspace's compiled
  dependencies; seconds once, then reused while the commit stays the same).
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


def build_frozen_binary(paths: list[str], manifest: str, binary: str, package: str | None = None) -> Path:
    """A v1.0 Rust binary, built on first use from a ``git archive`` of ``paths`` at the commit, offline.

    It is built into the workspace's own ``target/release`` as ``<binary>-v1-0`` (the renamed ``[[bin]]``
    in ``manifest`` is the only edit to the sources), with the current ``Cargo.lock`` and the workspace's
    ``zmq-sys`` (``third_party/``, patched in): the dependencies are then the very units ``make build`` has
    compiled (libzmq included), and the v1.0 build compiles only the v1.0 crates themselves."""
    renamed = f"{binary}-v1-0"
    built = ROOT / "target" / "release" / renamed
    stamp = ROOT / "target" / "compat-v1.0" / f"{renamed}.commit"
    if built.exists() and stamp.exists() and stamp.read_text() == V1_0_COMMIT:
        return built
    source = ROOT / "target" / "compat-v1.0" / f"{renamed}-src"
    source.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", V1_0_COMMIT, "Cargo.toml", *paths],
        capture_output=True,
        timeout=60,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, timeout=60, check=True)
    cargo_toml = source / manifest
    text = cargo_toml.read_text()
    if f'name = "{binary}"' not in text:
        raise RuntimeError(f"{manifest} at {V1_0_COMMIT} declares no [[bin]] {binary!r}")
    cargo_toml.write_text(text.replace(f'name = "{binary}"', f'name = "{renamed}"'))
    workspace = source / "Cargo.toml"
    zmq_sys = (ROOT / "third_party" / "zmq-sys").as_posix()
    workspace.write_text(workspace.read_text() + f'\n[patch.crates-io]\nzmq-sys = {{ path = "{zmq_sys}" }}\n')
    (source / "Cargo.lock").write_bytes((ROOT / "Cargo.lock").read_bytes())
    environment = {**os.environ, "CARGO_TARGET_DIR": str(ROOT / "target")}
    build = ["cargo", "build", "--release", "--offline", "--bin", renamed]
    if package is not None:
        build += ["-p", package]
    done = subprocess.run(
        build, cwd=source, env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the v1.0 {binary} failed:\n{done.stderr[-4000:]}")
    stamp.write_text(V1_0_COMMIT)
    return built


def rust_testee() -> Path:
    """The v1.0 ``contracts-testee``, built on first use."""
    return build_frozen_binary(
        ["crates/tradebridge-contracts"], "crates/tradebridge-contracts/Cargo.toml", "contracts-testee"
    )
