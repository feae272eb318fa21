"""Finding our Rust binaries: on ``PATH`` (installed), in ``$TRADEBRIDGE_BIN_DIR``, or in a checkout.

An installed SDK has no checkout around it, so the checkout is only the last place looked, found by walking
up from the current directory and from this package for the workspace's ``Cargo.toml``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from tradebridge.errors import ConfigurationError

__all__ = ["BinaryNotFoundError", "rust_binary"]

#: the variable naming a directory of built binaries (``make`` sets it to ``target/release``)
BIN_DIR_VARIABLE = "TRADEBRIDGE_BIN_DIR"

#: the crate that builds each binary, for ``cargo install --path`` in the error message
_CRATES = {
    "execution-engine": "crates/tradebridge-engine",
    "bus-peer": "conformance/testees/rust",
    "health-probe-server": "conformance/testees/rust",
    "contracts-testee": "conformance/testees/rust",
}


class BinaryNotFoundError(ConfigurationError, FileNotFoundError):
    """A Rust binary is nowhere it is looked for; the message lists where and says how to get it.

    ``code`` is ``binary_not_found``; ``searched`` holds every place looked, in order.
    """

    code = "binary_not_found"

    def __init__(self, name: str, searched: list[str]) -> None:
        crate = _CRATES.get(name.split("/")[0], "<crate>")
        super().__init__(
            f"Rust binary {name!r} not found (looked in: {'; '.join(searched)}). In a checkout run "
            f"'make build' (or 'cargo build --release --bins --examples'); elsewhere install it with "
            f"'cargo install --path {crate}' so it is on PATH, or set {BIN_DIR_VARIABLE} to the "
            f"directory that holds it"
        )
        self.name = name
        self.searched = searched


def _workspace_roots(starts: list[Path]) -> Iterator[Path]:
    """Each directory above ``starts`` whose ``Cargo.toml`` declares a ``[workspace]``, nearest first."""
    seen: set[Path] = set()
    for start in starts:
        for directory in (start, *start.parents):
            if directory in seen:
                break  # everything above was walked from an earlier start
            seen.add(directory)
            manifest = directory / "Cargo.toml"
            try:
                if "[workspace]" in manifest.read_text(errors="replace"):
                    yield directory
            except OSError:
                continue


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def rust_binary(name: str) -> Path:
    """Path of one of our Rust binaries, looked up by ``name`` in this order:

    1. ``PATH`` (``cargo install`` puts them there; skipped for names with a ``/`` such as
       ``examples/guide``, which only exist in a build directory);
    2. ``$TRADEBRIDGE_BIN_DIR``;
    3. ``target/release`` of the Cargo workspace above the current directory, or above this package (an
       editable install in a checkout).

    Raises :class:`BinaryNotFoundError` (a ``FileNotFoundError``) listing where it looked and how to build
    or install it: a missing binary is a failed test, never a skipped one.
    """
    searched: list[str] = []
    if "/" not in name:
        found = shutil.which(name)
        if found is not None:
            return Path(found)
        searched.append("PATH")
    directory = os.environ.get(BIN_DIR_VARIABLE)
    if directory:
        candidate = Path(directory) / name
        if _executable(candidate):
            return candidate
        searched.append(f"${BIN_DIR_VARIABLE}={directory}")
    for root in _workspace_roots([Path.cwd().resolve(), Path(__file__).resolve().parent]):
        candidate = root / "target" / "release" / name
        if _executable(candidate):
            return candidate
        searched.append(str(candidate.parent))
    if len(searched) == (0 if "/" in name else 1) + (1 if directory else 0):
        searched.append("no Cargo workspace above the current directory")
    raise BinaryNotFoundError(name, searched)
