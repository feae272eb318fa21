"""Running the Rust ``bus-peer`` next to the Python SDK: processes that always end, with parsed output."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradebridge.contracts import decode_frame
from tradebridge.testing import rust_binary


@dataclass
class PeerResult:
    """What a finished ``bus-peer`` printed: its message lines (decoded) and its JSON summary."""

    messages: list[tuple[str, Any]]
    summary: dict[str, Any]
    stderr: str
    returncode: int


class Peer:
    """One ``bus-peer`` process; :meth:`finish` waits (or stops it) and parses what it printed."""

    def __init__(self, args: Sequence[str], stdin: bytes | None = None, binary: Path | None = None) -> None:
        # ``binary``: another build of it, e.g. the frozen v1.0 one (conformance/transport/frozen_bus.py)
        self.args = [str(binary or rust_binary("bus-peer")), *args]
        with tempfile.TemporaryFile() as source:
            if stdin is not None:
                source.write(stdin)
                source.seek(0)
            self.process = subprocess.Popen(
                self.args,
                stdin=source if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )

    def finish(self, timeout: float = 15.0, *, stop: bool = False) -> PeerResult:
        if stop:
            self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            raise AssertionError(f"bus-peer did not finish in {timeout} s: {err.decode()}") from None
        lines = out.decode().splitlines()
        summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
        messages = [decode_frame(line.encode()) for line in lines if line and not line.startswith("{")]
        return PeerResult(messages, summary, err.decode(), self.process.returncode)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@contextmanager
def peer(args: Sequence[str], stdin: bytes | None = None, binary: Path | None = None) -> Iterator[Peer]:
    """A ``bus-peer`` that is killed on the way out if the test did not finish it."""
    running = Peer(args, stdin, binary)
    try:
        yield running
    finally:
        running.kill()
