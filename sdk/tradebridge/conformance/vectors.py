"""The codec vectors shipped with the kit, and value comparison that keeps JSON types apart."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: ``vectors/<message>/{y,n}_<name>.json``: package data, so an installed wheel carries them.
VECTORS_DIR = Path(__file__).resolve().parent / "vectors"
DEFAULT_MAX_SIZE = 1_048_576


@dataclass(frozen=True)
class Vector:
    id: str
    path: Path
    message: str
    payload: bytes
    valid: bool
    canonical: Any = None
    code: str | None = None
    error_path: str | None = None
    max_size: int = DEFAULT_MAX_SIZE
    schema_check: bool = True
    description: str = ""
    allow_nan_tokens: bool = False
    legacy: bool = False


def load_vectors(directory: Path = VECTORS_DIR) -> list[Vector]:
    """Every ``<message>/{y,n}_*.json`` codec vector under ``directory``, sorted by id (other files there,
    such as ``curve/keys.json`` or the ``broker_access`` cases, are other suites' data)."""
    vectors = []
    for path in sorted(directory.glob("*/[yn]_*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        if "input" in body:
            payload = json.dumps(body["input"], separators=(",", ":"), ensure_ascii=False).encode()
        elif "input_text" in body:
            payload = body["input_text"].encode("utf-8")
        else:
            payload = bytes.fromhex(body.get("input_hex", ""))
        error = body.get("error", {})
        vectors.append(
            Vector(
                id=f"{path.parent.name}/{path.stem}",
                path=path,
                message=body["message"],
                payload=payload,
                valid=body["valid"],
                canonical=body.get("canonical"),
                code=error.get("code"),
                error_path=error.get("path"),
                max_size=body.get("max_size", DEFAULT_MAX_SIZE),
                schema_check=body.get("schema_check", True),
                description=body["description"],
                allow_nan_tokens=body.get("options", {}).get("allow_nan_tokens", False),
                legacy=body.get("legacy", False),
            )
        )
    return vectors


def same(left: Any, right: Any) -> bool:
    """Value equality with JSON types kept apart and floats compared bit for bit."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, float) or isinstance(right, float):
        if not (isinstance(left, float) and isinstance(right, float)):
            return False
        if math.isnan(left) or math.isnan(right):
            return math.isnan(left) and math.isnan(right)
        return struct.pack("<d", left) == struct.pack("<d", right)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


def load_known_failures(path: Path | None) -> set[str]:
    """The vector ids listed in a known-failure file (one per line, ``#`` starts a comment)."""
    if path is None or not path.exists():
        return set()
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.split("#", 1)[0].strip() for line in lines} - {""}
