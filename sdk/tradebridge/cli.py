"""``tradebridge`` command line: one entry point, one subcommand per tool.

Each subcommand lives in its own module with a ``main(argv) -> int``; this file only dispatches, so adding a
tool never touches another tool's code.
"""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "mock-publisher": ("tradebridge_mocks.publisher", "publish seeded BarUpdates on a ZeroMQ PUB socket"),
    "mock-broker": ("tradebridge_mocks.broker", "serve an Alpaca-compatible paper broker on loopback"),
    "demo": ("tradebridge.demo", "run the guide's complete trading flow locally"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: tradebridge <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run 'tradebridge <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"tradebridge: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(
                f"tradebridge: '{name}' needs the development mocks (pip install -e mocks/, or 'make dev')",
                file=sys.stderr,
            )
            return 2
        raise
    result: int = module.main(rest)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
