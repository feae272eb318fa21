"""A version of the contract as the checker sees it: the ``*.schema.json`` files of one directory, with
``$ref`` resolution inside a file (``#/$defs/price``) and across files (``bar_update.schema.json``,
``other.schema.json#/$defs/x``, or the absolute ``$id`` of a file in the set)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tradebridge.errors import TradebridgeError

SUFFIX = ".schema.json"

__all__ = ["SUFFIX", "CompatError", "SchemaSet", "Target"]


class CompatError(TradebridgeError, ValueError):
    """The checker was given something it cannot check. ``code`` is stable: ``not_a_directory``,
    ``no_schemas``, ``invalid_json``, ``not_a_schema``, ``unresolved_ref``, ``too_deep``,
    ``invalid_mode``, ``invalid_policy``."""

    def __init__(self, code: str, message: str, where: str = "") -> None:
        super().__init__(f"{code}: {where + ': ' if where else ''}{message}")
        self.code = code
        self.where = where
        self.detail = message

    def __reduce__(self) -> tuple[type[CompatError], tuple[str, str, str]]:
        return (type(self), (self.code, self.detail, self.where))


@dataclass(frozen=True)
class Target:
    """Where a ``$ref`` lands: the file it is in, the schema, and whether it is the root of a file."""

    file: str
    schema: Any
    is_root: bool


class SchemaSet:
    """The files of one contract version by file name (``bar_update.schema.json``)."""

    def __init__(self, files: Mapping[str, Any], label: str = "<memory>") -> None:
        self.label = label
        self.files: dict[str, Any] = {}
        for name, schema in files.items():
            if not isinstance(schema, (dict, bool)):
                raise CompatError("not_a_schema", "a schema is a JSON object or a boolean", f"{label}/{name}")
            self.files[name if name.endswith(SUFFIX) else name + SUFFIX] = schema
        self._by_id = {
            str(schema["$id"]): name
            for name, schema in self.files.items()
            if isinstance(schema, dict) and isinstance(schema.get("$id"), str)
        }

    @classmethod
    def load(cls, directory: str | Path) -> SchemaSet:
        root = Path(directory)
        if not root.is_dir():
            raise CompatError("not_a_directory", "not a directory", str(root))
        paths = sorted(root.glob("*" + SUFFIX))
        if not paths:
            raise CompatError("no_schemas", f"no *{SUFFIX} files", str(root))
        files: dict[str, Any] = {}
        for path in paths:
            try:
                files[path.name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                raise CompatError("invalid_json", str(exc), str(path)) from None
        return cls(files, label=str(root))

    @staticmethod
    def message_name(file: str) -> str:
        return file.removesuffix(SUFFIX)

    def resolve(self, file: str, ref: str) -> Target:
        """The schema ``ref`` points to, read from ``file``; refuses refs that leave the set."""
        location, _, fragment = ref.partition("#")
        if location:
            name = self._by_id.get(location) or Path(unquote(urlsplit(location).path)).name
            if name not in self.files:
                raise CompatError("unresolved_ref", f"$ref {ref!r} names no file of the set", file)
            file = name
        node: Any = self.files[file]
        if fragment and not fragment.startswith("/"):
            raise CompatError("unresolved_ref", f"$ref {ref!r}: only JSON-pointer fragments", file)
        for token in fragment.split("/")[1:] if fragment else []:
            key = unquote(token).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and key in node:
                node = node[key]
            elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            else:
                raise CompatError("unresolved_ref", f"$ref {ref!r} points nowhere", file)
        return Target(file, node, is_root=not fragment.strip("/"))
