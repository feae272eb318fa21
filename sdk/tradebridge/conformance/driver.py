"""A testee process driven through the testee protocol (``conformance/PROTOCOL.md``, version 1).

One JSON request per line on the testee's stdin, one JSON response per line on its stdout, in order. A
testee that crashes, hangs, prints junk or answers out of order costs the request it was serving a
``crash`` / ``timeout`` / ``protocol_error`` answer; the driver restarts it for the next request.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shlex
import subprocess
import time
from typing import Any

PROTOCOL_VERSION = "1"


class TesteeFailure(Exception):
    """The testee did not answer a request properly; ``kind`` is the verdict it earns."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


class HandshakeError(Exception):
    """The testee cannot be run at all (it does not start, or does not speak a protocol we know)."""


class ProcessTestee:
    """``command`` (a shell-like string or argv) as a child process speaking the testee protocol.

    ``timeout`` bounds each request; the ``hello`` of a (re)started process gets ``startup_timeout`` instead,
    since an interpreter starting on a loaded CI machine is not a testee that hangs. ``handshake=False``
    drives a line-protocol testee of another vocabulary (e.g. the broker-access one): the same framing,
    ids, timeouts and restarts, without the ``hello`` exchange."""

    __test__ = False

    def __init__(
        self,
        command: str | list[str],
        timeout: float = 5.0,
        cwd: str | None = None,
        handshake: bool = True,
        startup_timeout: float = 10.0,
    ) -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        self.timeout = timeout
        self.startup_timeout = max(timeout, startup_timeout)
        self.cwd = cwd
        self.handshake = handshake
        self.implementation = ""
        self.options: list[str] = []
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._selector: selectors.BaseSelector | None = None
        self._buffer = b""
        self._next_id = 0
        self._start()

    def _start(self) -> None:
        try:
            self._process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=self.cwd,
            )
        except OSError as exc:
            raise HandshakeError(f"cannot start {self.argv[0]!r}: {exc}") from exc
        assert self._process.stdout is not None
        os.set_blocking(self._process.stdout.fileno(), False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._process.stdout, selectors.EVENT_READ)
        self._buffer = b""
        if not self.handshake:
            return
        try:
            hello = self._exchange("hello", {"protocol": PROTOCOL_VERSION}, self.startup_timeout)
        except TesteeFailure as exc:
            self._stop()
            raise HandshakeError(f"no handshake: {exc}") from exc
        if not hello.get("ok") or hello.get("protocol") != PROTOCOL_VERSION:
            self._stop()
            raise HandshakeError(f"the testee refused protocol {PROTOCOL_VERSION}: {hello}")
        self.implementation = str(hello.get("implementation", ""))
        self.options = [str(option) for option in hello.get("options", [])]

    def request(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and return its response; raises :class:`TesteeFailure` (and restarts)."""
        try:
            return self._exchange(op, fields)
        except TesteeFailure:
            if op != "hello":
                self._restart()
            raise

    def _exchange(self, op: str, fields: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        process = self._process
        assert process is not None and process.stdin is not None
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "op": op, **fields}, allow_nan=False) + "\n"
        try:
            process.stdin.write(line.encode())
            process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise TesteeFailure("crash", f"the testee closed its stdin (exit {process.poll()})") from exc
        answer = self._read_line(self.timeout if timeout is None else timeout)
        try:
            response = json.loads(answer)
        except ValueError as exc:
            raise TesteeFailure("protocol_error", f"not a JSON line: {answer[:200]!r}") from exc
        if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
            raise TesteeFailure("protocol_error", f"not a response object: {answer[:200]!r}")
        if response.get("id") != self._next_id:
            raise TesteeFailure(
                "protocol_error", f"answered id {response.get('id')!r} to request {self._next_id}"
            )
        return response

    def _read_line(self, timeout: float) -> bytes:
        assert self._process is not None and self._process.stdout is not None and self._selector
        deadline = time.monotonic() + timeout
        fd = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                raise TesteeFailure("timeout", f"no answer within {timeout} s")
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                code = self._process.wait(timeout=timeout)
                raise TesteeFailure("crash", f"the testee exited with code {code}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _restart(self) -> None:
        self._stop()
        self.restarts += 1
        self._start()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin:
            # a crashed testee's pipe cannot be flushed: closing it may fail, and that is fine
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    def close(self) -> None:
        self._stop()

    def __enter__(self) -> ProcessTestee:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
