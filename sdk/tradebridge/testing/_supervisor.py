"""Start a service as a child process, wait until it is ready, and stop it whatever happens.

One :class:`Service` is one process: its stdout and stderr go to one log file (so a test's output shows
only the test), readiness is ``/ready`` answering 200 on its health port, a line of its output matching a
pattern, or any callable, and stopping is SIGTERM, then SIGKILL after a grace period. A process that dies
early or never becomes ready is a :class:`ServiceError` quoting the last lines of its log. Children die
with the process that started them even if it is killed (Linux ``PR_SET_PDEATHSIG``), so a crashed test
run leaves no orphan holding a port::

    with Service("engine", [str(rust_binary("execution-engine")), "--health-port", str(port)],
                 health_port=port) as engine:
        ...                                   # started and ready here
    # stopped here: SIGTERM, SIGKILL after the grace period, log closed
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from tradebridge.errors import TradebridgeError

__all__ = ["ReadyCheck", "Service", "ServiceError", "is_ready"]

#: A readiness condition: called with the service until it returns True.
ReadyCheck = Callable[["Service"], bool]

_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1


class ServiceError(TradebridgeError, RuntimeError):
    """A service could not start, died, or did not become ready (or reach a condition) in time.

    ``code`` is one of ``start_failed``, ``exited``, ``not_ready``; ``service`` names the service and
    ``log_tail`` holds the last lines of its output (also in the message).
    """

    def __init__(self, code: str, service: str, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.service = service
        self.log_tail = log_tail


def _load_prctl() -> Callable[[int, int], int] | None:
    """libc's ``prctl``, resolved in the parent: the child between fork and exec must not load libraries
    (another thread may have held the loader's lock at fork time)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl: Callable[[int, int], int] = libc.prctl
    return prctl


_PRCTL = _load_prctl()


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the thread that started it goes away."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Service:
    """One child process, started by :meth:`start`, made ready by :meth:`wait_ready`, ended by :meth:`stop`.

    Readiness, checked in this order, all that are given must hold:

    - ``health_port``: ``GET /ready`` on ``127.0.0.1:<health_port>`` answers 200 (unless ``ready`` is
      given: then the port serves :meth:`get` and :meth:`metrics` and ``ready`` decides);
    - ``ready_line``: a line of the output (stdout or stderr) matches this regular expression (the match
      is kept in :attr:`ready_match`, e.g. to read a port the process printed);
    - ``ready``: a callable returning True once the service is usable.

    With none of them, a started process that is still running is ready. ``log_dir`` holds the log file
    ``<name>.log``; without one the log goes to a temporary directory removed by :meth:`stop` (the text
    stays readable through :meth:`output`). ``env`` replaces the environment when given.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        *,
        health_port: int | None = None,
        ready_line: str | re.Pattern[str] | None = None,
        ready: ReadyCheck | None = None,
        log_dir: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_timeout: float = 30.0,
        grace: float = 5.0,
        stdin: bool = False,
    ) -> None:
        self.name = name
        self.argv = [os.fspath(a) for a in argv]
        self.health_port = health_port
        self.ready_line = re.compile(ready_line) if isinstance(ready_line, str) else ready_line
        self.ready_check = ready
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        self.grace = grace
        self.process: subprocess.Popen[bytes] | None = None
        #: the match of ``ready_line`` once a line matched
        self.ready_match: re.Match[str] | None = None
        self._want_stdin = stdin
        self._own_dir = log_dir is None
        self._log_dir = log_dir
        self._log: IO[bytes] | None = None
        self._scanned = 0
        self._partial = ""
        self._output: str | None = None  # the log's text once a temporary log is removed
        self._stopped = False

    # -- properties ---------------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix=f"tradebridge-{self.name}-"))
        return self._log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def stdin(self) -> IO[bytes] | None:
        """The process's stdin when started with ``stdin=True``."""
        return None if self.process is None else self.process.stdin

    @property
    def health_url(self) -> str:
        if self.health_port is None:
            raise ValueError(f"{self.name} has no health port")
        return f"http://127.0.0.1:{self.health_port}"

    def returncode(self) -> int | None:
        """The exit code once the process ended (negative: killed by that signal), else None."""
        return None if self.process is None else self.process.poll()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Start the process (without waiting for it to be ready); a service starts once."""
        if self.process is not None:
            raise ServiceError("start_failed", self.name, f"{self.name} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if self._want_stdin else subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                preexec_fn=_die_with_parent if _PRCTL is not None else None,
                # its own process group: a terminal's Ctrl-C reaches only us, and we stop it in order
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise ServiceError(
                "start_failed", self.name, f"{self.name}: cannot start {self.argv[0]!r}: {exc}"
            ) from exc
        return self

    def wait_ready(self, timeout: float | None = None) -> Self:
        """Block until the service is ready (see the class docstring); :class:`ServiceError` if it dies or
        ``timeout`` (default ``ready_timeout``) runs out."""
        self.wait(self._is_ready, "ready", self.ready_timeout if timeout is None else timeout)
        return self

    def wait(self, condition: ReadyCheck, what: str, timeout: float) -> None:
        """Poll until ``condition(self)`` holds; :class:`ServiceError` naming the service, ``what`` it waited
        for, its last readiness reason and its log tail if the process dies or time runs out. An
        ``OSError`` from ``condition`` (nothing listening yet) counts as not yet."""
        if self.process is None:
            raise ServiceError("not_ready", self.name, f"{self.name} was never started")
        deadline = time.monotonic() + timeout
        while True:
            if self.returncode() is not None:
                raise self.died()
            with contextlib.suppress(OSError):
                if condition(self):
                    return
            if time.monotonic() > deadline:
                tail = self.log_tail()
                raise ServiceError(
                    "not_ready",
                    self.name,
                    f"{self.name} not {what} after {timeout:g}s (last: {self._last_reason()})"
                    f"{_quoted(tail)}\n    (log: {self.log_path})",
                    tail,
                )
            time.sleep(_POLL_S)

    def wait_exit(self, timeout: float) -> int:
        """Wait for the process to end on its own; its exit code. :class:`ServiceError` if still running
        after ``timeout`` (it is left running: :meth:`stop` ends it)."""
        if self.process is None:
            raise ServiceError("not_ready", self.name, f"{self.name} was never started")
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            tail = self.log_tail()
            raise ServiceError(
                "not_ready", self.name, f"{self.name} still running after {timeout:g}s{_quoted(tail)}", tail
            ) from None

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the process (not its group), if it still runs."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM its process group, SIGKILL after ``grace`` seconds (default ``self.grace``); the exit
        code (negative for a signal), None if it never started. Idempotent: a second call returns the same
        code. Once it returns, the process is reaped, so the ports it held are free."""
        process = self.process
        if process is None:
            return None
        if not self._stopped:
            self._stopped = True
            if process.poll() is None:
                self._signal_group(process, signal.SIGTERM)
                try:
                    process.wait(self.grace if grace is None else grace)
                except subprocess.TimeoutExpired:
                    self._signal_group(process, signal.SIGKILL)
                    process.wait()
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            self._close_log()
            if self._own_dir and self._log_dir is not None:
                self._output = self.output()
                shutil.rmtree(self._log_dir, ignore_errors=True)
        return process.returncode

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- output -------------------------------------------------------------------------------------------

    def output(self) -> str:
        """Everything the process wrote so far (stdout and stderr interleaved)."""
        if self._output is not None:
            return self._output
        try:
            return self.log_path.read_bytes().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 8) -> str:
        return "\n".join(self.output().strip().splitlines()[-lines:])

    def died(self) -> ServiceError:
        """The error describing this service's unexpected exit, with its log tail."""
        tail = self.log_tail()
        return ServiceError(
            "exited",
            self.name,
            f"{self.name} exited with code {self.returncode()}{_quoted(tail) or ' (no output)'}"
            f"\n    (log: {self.log_path})",
            tail,
        )

    # -- health endpoints -----------------------------------------------------------------------------------

    def get(self, path: str, timeout: float = 1.0) -> tuple[int, Any]:
        """``GET`` one path of its health server: (status, parsed JSON or text). OSError when unreachable."""
        try:
            with urllib.request.urlopen(self.health_url + path, timeout=timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")

    def metrics(self) -> dict[str, str]:
        """The ``metrics`` of ``/health`` (empty when the service does not answer)."""
        try:
            _, body = self.get("/health")
        except OSError:
            return {}
        return dict(body.get("metrics", {})) if isinstance(body, dict) else {}

    # -- internals ------------------------------------------------------------------------------------------

    def _is_ready(self, _: Service) -> bool:
        if self.health_port is not None and self.ready_check is None and not is_ready(self):
            return False
        if self.ready_line is not None and self.ready_match is None:
            self.ready_match = self._scan_for(self.ready_line)
            if self.ready_match is None:
                return False
        return self.ready_check is None or self.ready_check(self)

    def _scan_for(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """The first new complete output line matching ``pattern`` (reads only what was added since)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._scanned)
                chunk = log.read()
        except OSError:
            return None
        self._scanned += len(chunk)
        lines = (self._partial + chunk.decode(errors="replace")).split("\n")
        self._partial = lines.pop()
        for line in lines:
            found = pattern.search(line)
            if found is not None:
                return found
        return None

    def _last_reason(self) -> str:
        if self.health_port is None:
            return f"no line matching {self.ready_line.pattern!r}" if self.ready_line else "condition false"
        try:
            status, body = self.get("/ready")
        except OSError:
            return "no answer on its health port"
        return str(body.get("reason", f"HTTP {status}")) if isinstance(body, dict) else f"HTTP {status}"

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __repr__(self) -> str:
        state = "not started" if self.process is None else f"pid {self.process.pid}, rc {self.returncode()}"
        return f"Service({self.name!r}, {state})"


def is_ready(service: Service) -> bool:
    """``GET /ready`` answers 200 (False when it answers otherwise or nothing listens yet)."""
    try:
        status, _ = service.get("/ready")
    except OSError:
        return False
    return bool(status == 200)


def _quoted(tail: str) -> str:
    return ":\n    " + tail.replace("\n", "\n    ") if tail else ""
