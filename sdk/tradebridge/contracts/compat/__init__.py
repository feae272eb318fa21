"""``tradebridge contracts check``: is a new version of the contract compatible with an old one?

Schema Registry's modes for JSON Schema, on directories laid out as ``contracts/v1``::

    >>> report = check("contracts/released/1.0", "contracts/v1")            # doctest: +SKIP
    >>> report.compatible, [c.kind for c in report.changes]                  # doctest: +SKIP

- BACKWARD (default): a reader using NEW reads data written with OLD (upgrade consumers first).
- FORWARD: a reader using OLD reads data written with NEW (upgrade producers first).
- FULL: both.

Each :class:`Change` carries a stable ``kind``, a JSON Path into the message schema (``$ref`` followed),
its verdict in both directions and a reason; ``rules`` documents the reasoning and the two policies
(``codec``, the default: the robust reader the tradebridge codecs are; ``strict``: validator semantics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tradebridge.contracts.compat.diff import diff_sets
from tradebridge.contracts.compat.report import MODES, POLICIES, Change, Mode, Policy, Report, render_text
from tradebridge.contracts.compat.rules import KINDS
from tradebridge.contracts.compat.schemas import CompatError, SchemaSet

__all__ = [
    "KINDS",
    "MODES",
    "POLICIES",
    "Change",
    "CompatError",
    "Mode",
    "Policy",
    "Report",
    "SchemaSet",
    "check",
    "check_history",
    "compare",
    "history",
    "render_text",
]


def _mode(mode: str) -> Mode:
    upper = mode.upper()
    for known in MODES:
        if known == upper:
            return known
    raise CompatError("invalid_mode", f"mode {mode!r} is not one of {', '.join(MODES)}")


def _policy(policy: str) -> Policy:
    for known in POLICIES:
        if known == policy:
            return known
    raise CompatError("invalid_policy", f"policy {policy!r} is not one of {', '.join(POLICIES)}")


def compare(
    old: SchemaSet | Mapping[str, Any],
    new: SchemaSet | Mapping[str, Any],
    mode: str = "BACKWARD",
    policy: str = "codec",
) -> Report:
    """Compare two schema sets already in memory (file name -> schema, or :class:`SchemaSet`)."""
    old_set = old if isinstance(old, SchemaSet) else SchemaSet(old, "old")
    new_set = new if isinstance(new, SchemaSet) else SchemaSet(new, "new")
    checked_mode, checked_policy = _mode(mode), _policy(policy)
    changes = diff_sets(old_set, new_set, checked_policy)
    return Report(old_set.label, new_set.label, checked_mode, checked_policy, tuple(changes))


def check(old_dir: str | Path, new_dir: str | Path, mode: str = "BACKWARD", policy: str = "codec") -> Report:
    """Compare the ``*.schema.json`` files of two directories; raises :class:`CompatError` when unreadable."""
    return compare(SchemaSet.load(old_dir), SchemaSet.load(new_dir), mode, policy)


def _version_key(path: Path) -> tuple[tuple[int, ...], str]:
    digits = tuple(int(part) for part in path.name.split(".") if part.isdigit())
    return digits, path.name


def history(directory: str | Path) -> list[Path]:
    """The released versions under ``directory`` (``contracts/released``): subdirectories holding schemas,
    oldest first by version number (``1.0`` < ``1.2`` < ``1.10``)."""
    root = Path(directory)
    if not root.is_dir():
        raise CompatError("not_a_directory", "not a directory", str(root))
    found = [p for p in root.iterdir() if p.is_dir() and any(p.glob("*.schema.json"))]
    if not found:
        raise CompatError("no_schemas", "no subdirectory with *.schema.json files", str(root))
    return sorted(found, key=_version_key)


def check_history(
    old_dirs: Sequence[str | Path], new_dir: str | Path, mode: str = "BACKWARD", policy: str = "codec"
) -> list[Report]:
    """The transitive check: ``new_dir`` against every one of ``old_dirs``, newest first (as Schema
    Registry's ``*_TRANSITIVE`` modes). Compatible when every report is."""
    new_set = SchemaSet.load(new_dir)
    return [compare(SchemaSet.load(old), new_set, mode, policy) for old in reversed(list(old_dirs))]
