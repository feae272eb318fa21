"""Shared pieces of the Python fuzz tests: the example budget, the seed, and seeds to mutate.

``make test`` runs a bounded number of examples per test with a fresh seed; ``make fuzz`` runs the same
tests with ``TRADEBRIDGE_FUZZ_EXAMPLES`` in the hundreds of thousands. A failure names its seed, and
``TRADEBRIDGE_FUZZ_SEED=<seed>`` replays that run.
"""

from __future__ import annotations

import contextlib
import os
import random
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
#: the Rust fuzzers' kept corpora: conformance payloads plus what libFuzzer found interesting
CORPUS = ROOT / "fuzz" / "corpus"

EXAMPLES = int(os.environ.get("TRADEBRIDGE_FUZZ_EXAMPLES", "150"))
SEED = int(os.environ.get("TRADEBRIDGE_FUZZ_SEED") or random.SystemRandom().randrange(2**32))

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    # a shared 2-core machine makes timings meaningless; a hang is caught by pytest-timeout instead
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def corpus(*targets: str) -> list[bytes]:
    found = []
    for path in sorted(path for target in targets for path in (CORPUS / target).glob("*")):
        # `make fuzz` running meanwhile replaces corpus files by smaller ones
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            found.append(path.read_bytes())
    assert found, f"no fuzz corpus under {CORPUS} (run `python fuzz/seed.py`)"
    return found


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few byte-level edits: flips, inserts, deletes, splices of another seed."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(("flip", "insert", "delete", "splice", "token")))
        if edit == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif edit == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif edit == "splice":
            other = draw(st.sampled_from(seeds))
            start = draw(st.integers(0, len(other)))
            data[at:] = other[start:]
        else:
            token = draw(st.sampled_from(TOKENS))
            data[at:at] = token
    return bytes(data)


#: JSON fragments near every edge the decoders care about
TOKENS = (
    b"NaN", b"-Infinity", b"Infinity", b"null", b"true", b"1e400", b"-0.0", b"9007199254740992",
    b"\"\\u0000\"", b"\"\\ud800\"", b"\xff", b"[[[[[[[[", b"{}", b",", b":", b"\"", b"\\",
    b"\"type\":\"BarUpdate\"", b"\"schema_version\":\"2.0\"", b"\"schema_version\":\"1.9\"",
)  # fmt: skip
