"""``tradebridge contracts``: check that a new version of the contract is compatible with released ones.

    tradebridge contracts check contracts/released/1.0 contracts/v1
    tradebridge contracts check --transitive --mode FULL contracts/released contracts/v1 --json

Exit status: 0 compatible under the mode, 1 not, 2 the schemas could not be read (or bad arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tradebridge.contracts.compat import MODES, POLICIES, CompatError, check_history, history, render_text
from tradebridge.contracts.compat.schemas import SUFFIX

SUMMARY = "Check that a new version of the message contract is compatible with released ones"

__all__ = ["SUMMARY", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradebridge contracts", description=SUMMARY)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check",
        help="compare schema directories (OLD... NEW)",
        description=(
            "Compare the *.schema.json files of OLD_DIR and NEW_DIR and print every change with its verdict "
            "under BACKWARD (new readers read old data), FORWARD (old readers read new data) and FULL "
            "(both). "
            "An OLD_DIR without schemas but with version subdirectories (contracts/released) is a history: "
            "its newest version is checked, or every version with --transitive."
        ),
    )
    check.add_argument("dirs", nargs="+", metavar="DIR", help="OLD_DIR [OLD_DIR...] NEW_DIR, oldest first")
    check.add_argument("--mode", default="BACKWARD", type=str.upper, choices=MODES, help="default BACKWARD")
    check.add_argument(
        "--policy",
        default="codec",
        choices=POLICIES,
        help="codec (default): readers ignore undeclared properties, writers emit only declared ones; "
        "strict: JSON Schema validator semantics (Confluent STRICT)",
    )
    check.add_argument(
        "--transitive", action="store_true", help="check against every OLD, not only the newest"
    )
    check.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return parser


def _olds(dirs: Sequence[str]) -> list[Path]:
    olds: list[Path] = []
    for directory in dirs:
        path = Path(directory)
        olds.extend(history(path) if path.is_dir() and not any(path.glob("*" + SUFFIX)) else [path])
    return olds


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: 0 after --help, 2 on a usage error
        return int(exc.code or 0)
    if len(args.dirs) < 2:
        print("tradebridge contracts check: give OLD_DIR and NEW_DIR", file=sys.stderr)
        return 2
    try:
        olds = _olds(args.dirs[:-1])
        reports = check_history(olds if args.transitive else olds[-1:], args.dirs[-1], args.mode, args.policy)
    except CompatError as exc:
        print(f"tradebridge contracts check: cannot read the schemas: {exc}", file=sys.stderr)
        return 2
    compatible = all(report.compatible for report in reports)
    if args.json:
        body = {"compatible": compatible, "mode": args.mode, "reports": [r.as_dict() for r in reports]}
        print(json.dumps(body, indent=2, sort_keys=True))
    else:
        print(render_text(reports))
    return 0 if compatible else 1


if __name__ == "__main__":
    sys.exit(main())
