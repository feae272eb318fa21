"""``tradebridge`` command line: one entry point, the subcommands come from the installed distributions.

A distribution adds a command by declaring an entry point in the ``tradebridge.commands`` group whose
value is a module with a ``main(argv) -> int`` (the SDK declares none)::

    [project.entry-points."tradebridge.commands"]
    mock-broker = "tradebridge_mocks.broker:main"

The help line of a command is the first sentence of its function's docstring, else its module's ``SUMMARY``
attribute, else the first sentence of its module's docstring.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import cast

GROUP = "tradebridge.commands"
_COMMAND_PREFIX = re.compile(r"^.*?``:\s*")
_ROLE = re.compile(r":\w+:`~?([^`]+)`")  # :class:`Recorder` -> Recorder

__all__ = ["GROUP", "commands", "main"]


def commands() -> dict[str, EntryPoint]:
    """Every declared command, by name (the first distribution wins a name declared twice)."""
    found: dict[str, EntryPoint] = {}
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        found.setdefault(entry.name, entry)
    return found


def _summary(entry: EntryPoint) -> str:
    """One line about a command, read without running it: the docstring of the function it names, else its
    module's ``SUMMARY``, else the first sentence of its module's docstring."""
    try:
        module = importlib.import_module(entry.module)
        target = entry.load()
    except Exception as exc:  # a broken command must not break the help of the others
        return f"(cannot be loaded: {type(exc).__name__}: {exc})"
    own = target.__doc__ if target.__doc__ and target.__doc__ is not module.__doc__ else None
    return _one_line(own or getattr(module, "SUMMARY", None) or module.__doc__ or "")


def _one_line(text: str) -> str:
    paragraph = " ".join(str(text).strip().split("\n\n")[0].split())
    # docstrings often open with the command itself ("``tradebridge demo``: ..."): the list says it already
    paragraph = _COMMAND_PREFIX.sub("", paragraph, count=1)
    paragraph = _ROLE.sub(r"\1", paragraph).replace("``", "")
    return paragraph.split(". ")[0].strip().rstrip(".")


def _usage(found: dict[str, EntryPoint]) -> str:
    lines = ["usage: tradebridge <command> [options]", ""]
    if found:
        width = max(map(len, found))
        lines.append("commands:")
        for name, entry in found.items():
            package = f" [{entry.dist.name}]" if entry.dist is not None else ""
            lines.append(f"  {name:<{width}}  {_summary(entry)}{package}")
        lines += ["", "Run 'tradebridge <command> --help' for a command's options."]
    else:
        lines.append("no commands installed: they come with tradebridge-mocks and tradebridge-demo")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    found = commands()
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage(found))
        return 0
    name, rest = args[0], args[1:]
    entry = found.get(name)
    if entry is None:
        hint = "commands come from installed distributions (tradebridge-mocks, tradebridge-demo, ...)"
        print(f"tradebridge: unknown command {name!r}; {hint}\n\n{_usage(found)}", file=sys.stderr)
        return 2
    try:
        command = cast(Callable[[list[str]], int], entry.load())
    except ModuleNotFoundError as exc:
        # declared by an installed distribution that needs another one that is not installed
        owner = entry.dist.name if entry.dist is not None else "its distribution"
        print(
            f"tradebridge: '{name}' (from {owner}) cannot run: module {exc.name!r} is not installed; "
            f"reinstall {owner} with its dependencies (pip install {owner})",
            file=sys.stderr,
        )
        return 2
    return int(command(rest))


if __name__ == "__main__":
    raise SystemExit(main())
