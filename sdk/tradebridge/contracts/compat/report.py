"""What the checker found: one :class:`Change` per difference, a :class:`Report` per pair of versions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["BACKWARD", "FORWARD", "FULL"]
Policy = Literal["codec", "strict"]
MODES: tuple[Mode, ...] = ("BACKWARD", "FORWARD", "FULL")
POLICIES: tuple[Policy, ...] = ("codec", "strict")

__all__ = ["MODES", "POLICIES", "Change", "Mode", "Policy", "Report", "render_text"]


@dataclass(frozen=True)
class Change:
    """One difference between two versions of a message schema.

    ``path`` is a JSON Path into the message's schema with every ``$ref`` followed (so a change to
    ``$defs.price`` shows once per field that uses it, e.g. ``$.properties.open.maximum``); ``$`` for a
    change to the message as a whole. ``backward``: a reader using the new schema reads what the old one
    wrote; ``forward``: a reader using the old schema reads what the new one writes.
    """

    message: str
    kind: str
    path: str
    backward: bool
    forward: bool
    reason: str
    old: Any = None
    new: Any = None

    @property
    def full(self) -> bool:
        return self.backward and self.forward

    def allowed(self, mode: Mode) -> bool:
        return {"BACKWARD": self.backward, "FORWARD": self.forward, "FULL": self.full}[mode]

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "kind": self.kind,
            "path": self.path,
            "backward": self.backward,
            "forward": self.forward,
            "full": self.full,
            "reason": self.reason,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True)
class Report:
    """The changes from ``old`` to ``new`` and the verdict under ``mode``."""

    old: str
    new: str
    mode: Mode
    policy: Policy
    changes: tuple[Change, ...] = field(default_factory=tuple)

    def compatible_under(self, mode: Mode) -> bool:
        return all(change.allowed(mode) for change in self.changes)

    @property
    def compatible(self) -> bool:
        return self.compatible_under(self.mode)

    @property
    def modes(self) -> tuple[Mode, ...]:
        """Every mode the change set is compatible under (FULL only with both others)."""
        return tuple(mode for mode in MODES if self.compatible_under(mode))

    @property
    def breaking(self) -> tuple[Change, ...]:
        """The changes that make the pair incompatible under :attr:`mode`."""
        return tuple(change for change in self.changes if not change.allowed(self.mode))

    def as_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "mode": self.mode,
            "policy": self.policy,
            "compatible": self.compatible,
            "compatible_modes": list(self.modes),
            "changes": [change.as_dict() for change in self.changes],
        }


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def _value(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def render_text(reports: Sequence[Report]) -> str:
    """Human form: one block per change, then the modes the pair satisfies and the verdict."""
    lines: list[str] = []
    for report in reports:
        count = len(report.changes)
        plural = "s" if count != 1 else ""
        lines.append(f"{report.old} -> {report.new}: {count} change{plural} (policy {report.policy})")
        for change in report.changes:
            values = ""
            if change.old is not None and change.new is not None:
                values = f" ({_value(change.old)} -> {_value(change.new)})"
            elif change.old is not None:
                values = f" (was {_value(change.old)})"
            elif change.new is not None:
                values = f" (now {_value(change.new)})"
            lines.append(f"  {change.message} {change.path}: {change.kind}{values}")
            lines.append(
                f"    BACKWARD {_yes(change.backward)}, FORWARD {_yes(change.forward)}, "
                f"FULL {_yes(change.full)}: {change.reason}"
            )
        modes = [mode for mode in report.modes if mode != "FULL"]
        lines.append(f"compatible: {', '.join(modes) if modes else 'none'}")
        verdict = "compatible" if report.compatible else "NOT compatible"
        lines.append(f"{report.mode}: {verdict}")
        for change in report.breaking:
            lines.append(f"  breaks {report.mode}: {change.message} {change.path} ({change.kind})")
    return "\n".join(lines)
