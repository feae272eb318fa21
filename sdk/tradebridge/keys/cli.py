"""``tradebridge keys``: make and read the CURVE keys that secure the bus.

    tradebridge keys generate --out keys/ --name engine     # keys/engine.key, keys/engine.key_secret
    tradebridge keys public keys/engine.key_secret           # the public key of a key file

``generate`` prints the new public key (the secret never reaches the terminal); the secret file is created
with mode 0600 and an existing pair is kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tradebridge.bus._security import CurveConfigError, load_certificate, public_of, write_certificates

SUMMARY = "Generate and read the CURVE keys that secure the bus (ZeroMQ certificate files)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradebridge keys", description=SUMMARY)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="write a new keypair NAME.key / NAME.key_secret")
    generate.add_argument("--out", required=True, type=Path, help="directory to write the files into")
    generate.add_argument("--name", default="tradebridge", help="file name stem (default: tradebridge)")
    generate.add_argument("--force", action="store_true", help="replace an existing pair")
    public = commands.add_parser("public", help="print the public key of a key file")
    public.add_argument("file", type=Path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "generate":
            public_path, secret_path, key = write_certificates(args.out, args.name, force=args.force)
            print(key)
            print(f"public: {public_path}\nsecret: {secret_path} (mode 0600)", file=sys.stderr)
            return 0
        found_public, found_secret = load_certificate(args.file)
        shown = public_of(found_secret) if found_secret else found_public
        if not shown:
            print(f"tradebridge keys: {args.file} holds no key", file=sys.stderr)
            return 2
        print(shown)
        return 0
    except CurveConfigError as exc:
        print(f"tradebridge keys: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
