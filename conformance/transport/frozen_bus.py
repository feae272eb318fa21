"""The real v1.0 bus peers, from git (commit 4e233f7, the last before contract v1.1), for the
mixed-version proofs over real sockets.

- Python: the v1.0 ``tradebridge.bus`` package, loaded next to the v1.0 codec that
  ``tests/contracts/frozen_v1_0.py`` loads (same renaming: ``tradebridge_v1_0``), so a v1.0 publisher and
  subscriber run in the same process as the v1.1 ones. Its only edits are the package names in imports.
- Rust: the v1.0 ``bus-peer`` (then ``crates/tradebridge-bus/src/bin/bus-peer.rs``) built from a
  ``git archive`` of the commit, offline, by ``build_frozen_binary`` (``tests/contracts/frozen_v1_0.py``):
  into the workspace's ``target/release`` as ``bus-peer-v1-0``, on the workspace's compiled dependencies
  and libzmq, so only the two v1.0 crates compile; later runs reuse it while the commit stays the same.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from tests.contracts.frozen_v1_0 import PACKAGE, _show, build_frozen_binary, load

BUS_FILES = ("__init__.py", "_async.py", "_core.py", "options.py", "stats.py", "sync.py")


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
    return build_frozen_binary(
        ["crates/tradebridge-contracts", "crates/tradebridge-bus"],
        "crates/tradebridge-bus/Cargo.toml",
        "bus-peer",
        package="tradebridge-bus",
    )
