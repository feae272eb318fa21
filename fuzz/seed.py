"""Seed the fuzz corpora (``fuzz/corpus/<target>/``) from the conformance vectors and Alpaca-shaped frames.

Files are named by the SHA-1 of their content, as libFuzzer names its own finds, so seeding again adds
nothing twice. ``make fuzz`` runs it before fuzzing; the stable replay test reads whatever is there.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(__file__).resolve().parent
VECTORS = ROOT.parent / "conformance" / "vectors"

#: the topic each vector's message kind travels on (frames get every payload under its own topic)
TOPIC = {
    "bar_update": "market",
    "bar": "market",
    "trade_update": "market",
    "quote_update": "market",
    "market_message": "market",
    "market": "market",
    "signal": "signal",
    "order_update": "order",
    "heartbeat": "system",
}
#: libFuzzer's default `-max_len`; the vectors of huge documents (limits) stay in the conformance suite
MAX_SEED = 4096
BAR_KINDS = {"bar_update", "bar", "market_message", "message", "market"}


def payload(vector: dict[str, Any]) -> bytes | None:
    if "input_hex" in vector:
        return bytes.fromhex(vector["input_hex"])
    if "input_text" in vector:
        return str(vector["input_text"]).encode()
    if "input" in vector:
        return json.dumps(vector["input"], separators=(",", ":"), ensure_ascii=False).encode()
    return None


def stream_frames() -> list[bytes]:
    """Alpaca market-data stream frames in both encodings, times as the wire carries them."""
    ns = 1_729_530_000_123_456_789
    bar = {
        "T": "b",
        "S": "AAPL",
        "o": 150.0,
        "h": 152.5,
        "l": 149.5,
        "c": 151.0,
        "v": 1000,
        "n": 12,
        "vw": 151.2,
    }
    trade = {
        "T": "t",
        "S": "AAPL",
        "i": 52983525029461,
        "x": "V",
        "p": 151.02,
        "s": 100,
        "c": ["@"],
        "z": "C",
    }
    quote = {"T": "q", "S": "MSFT", "bx": "V", "bp": 410.1, "bs": 2, "ax": "V", "ap": 410.3, "as": 3}
    control = [
        {"T": "success", "msg": "connected"},
        {"T": "success", "msg": "authenticated"},
        {"T": "error", "code": 406, "msg": "connection limit exceeded"},
        {"T": "subscription", "trades": ["AAPL"], "quotes": [], "bars": ["*"]},
        {"T": "s", "S": "AAPL", "sc": "H", "sm": "Trading Halt"},
    ]
    later = dict(bar, S="AAPL")
    frames: list[bytes] = []
    for timestamp in (msgpack.Timestamp.from_unix_nano(ns), msgpack.Timestamp(1_729_530_000, 0)):
        points = [dict(p, t=timestamp) for p in (bar, trade, quote, dict(bar, T="u"), dict(bar, T="d"))]
        points.append(dict(later, t=msgpack.Timestamp.from_unix_nano(ns + 180 * 10**9)))
        frames.append(msgpack.packb(points, use_bin_type=True))
        frames.extend(msgpack.packb([p], use_bin_type=True) for p in points)
    frames.append(msgpack.packb(control, use_bin_type=True))
    text_points = [dict(p, t="2024-10-21T17:00:00.123456789Z") for p in (bar, trade, quote)]
    text_points.append(dict(bar, t="2024-10-21T17:03:00+02:00"))
    frames.append(json.dumps(text_points + control).encode())
    frames.extend(json.dumps([p]).encode() for p in text_points)
    frames.append(msgpack.packb({"T": "b"}, use_bin_type=True))
    frames.append(b'[{"T":"b","S":"AAPL","o":1e400}]')
    return frames


def write(target: str, data: bytes) -> bool:
    folder = ROOT / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hashlib.sha1(data, usedforsecurity=False).hexdigest()
    if path.exists():
        return False
    path.write_bytes(data)
    return True


def main() -> int:
    added: dict[str, int] = {}

    def add(target: str, data: bytes) -> None:
        added[target] = added.get(target, 0) + write(target, data)

    for file in sorted(VECTORS.rglob("*.json")):
        try:
            vector = json.loads(file.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(vector, dict):
            continue
        data = payload(vector)
        if data is None or len(data) > MAX_SEED:
            continue
        kind = vector.get("message", "")
        if kind == "frame":
            add("frame_parse", data)
            continue
        add("contracts_decode", data)
        if kind in BAR_KINDS:
            add("bar_update_fast_vs_serde", data)
        if kind in TOPIC:
            add("frame_parse", TOPIC[kind].encode() + b" " + data)
    for data in stream_frames():
        add("market_stream_decode", data)
    for target, count in sorted(added.items()):
        print(f"seed: {target}: {count} new")
    return 0


if __name__ == "__main__":
    sys.exit(main())
