"""The real v1.0 bus peers, from git (commit 4e233f7, the last before contract v1.1), for the
mixed-version proofs over real sockets.

- Python: the v1.0 ``tradebridge.bus`` package, loaded next to the v1.0 codec that
  ``tests/contracts/frozen_v1_0.py`` loads (same renaming: ``tradebridge_v1_0``), so a v1.0 publisher and
  subscriber run in the same process as the v1.1 ones. Its only edits are the package names in imports.
- Rust: the v1.0 ``bus-peer`` (then ``crates/tradebridge-bus/src/bin/bus-peer.rs``) built from a
  ``git archive`` of the commit, offline, into the same target directory as the v1.0
  ``contracts-testee`` (``target/compat-v1.0``), so the two share their compiled dependencies. The first
  build compiles libzmq from source (about a minute on two cores); later runs reuse it while the commit
  stays the same.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from tests.contracts.frozen_v1_0 import PACKAGE, ROOT, V1_0_COMMIT, _show, load

BUS_FILES = ("__init__.py", "_async.py", "_core.py", "options.py", "stats.py", "sync.py")
BASE = ROOT / "target" / "compat-v1.0"


def load_bus(into: Path) -> ModuleType:
    """The v1.0 ``tradebridge.bus`` as ``tradebridge_v1_0.bus`` (once per process)."""
    loaded = sys.modules.get(f"{PACKAGE}.bus")
    if loaded is not None:
        return loaded
    load(into)  # the v1.0 contracts and errors it imports
    # The v1.0 package may have been written elsewhere by an earlier test of this process: the bus goes
    # beside the package that is actually imported, or Python would not find it.
    root = Path(sys.modules[PACKAGE].__path__[0])
    package = root / "bus"
    package.mkdir(parents=True, exist_ok=True)
    for name in BUS_FILES:
        source = _show(f"bus/{name}").replace("tradebridge.", f"{PACKAGE}.")
        (package / name).write_text(source)
    return importlib.import_module(f"{PACKAGE}.bus")


def rust_bus_peer() -> Path:
    """The v1.0 ``bus-peer``, built on first use (see the module docstring)."""
    binary = BASE / "target" / "release" / "bus-peer"
    stamp = BASE / "bus-peer.commit"
    if binary.exists() and stamp.exists() and stamp.read_text() == V1_0_COMMIT:
        return binary
    # its own source tree: the contracts-testee's build (tests/contracts) may run from the other one
    source = BASE / "bus-src"
    source.mkdir(parents=True, exist_ok=True)
    paths = ["Cargo.toml", "Cargo.lock", "crates/tradebridge-contracts", "crates/tradebridge-bus"]
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", V1_0_COMMIT, *paths], capture_output=True, timeout=60, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, timeout=60, check=True)
    environment = {**os.environ, "CARGO_TARGET_DIR": str(BASE / "target")}
    build = ["cargo", "build", "--release", "--offline", "-p", "tradebridge-bus", "--bin", "bus-peer"]
    done = subprocess.run(
        build, cwd=source, env=environment, capture_output=True, text=True, timeout=900, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the v1.0 bus-peer failed:\n{done.stderr[-4000:]}")
    stamp.write_text(V1_0_COMMIT)
    return binary
