"""Starting, watching and stopping the demo's services as separate processes.

Each service logs to its own file (so the terminal shows only the demo's progress), is asked to stop with
SIGTERM and killed if it does not within a grace period, and dies with the demo even if the demo itself is
killed (Linux ``PR_SET_PDEATHSIG``), so a run never leaves orphans holding ports.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

#: Credential variables never passed to services talking to the local mock broker.
CREDENTIAL_VARIABLES = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "ALPACA_API_KEY", "ALPACA_SECRET_KEY")


class ServiceError(RuntimeError):
    """A service could not start, became unready or died; the message says which and why."""


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the demo process goes away, however it goes."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class Service:
    """One child process with a health port."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        health_port: int,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.health_port = health_port
        self.log_path = log_dir / f"{name}.log"
        self.env = dict(env) if env is not None else None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.health_port}"

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        preexec: Callable[[], None] | None = _die_with_parent if sys.platform.startswith("linux") else None
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            preexec_fn=preexec,
        )

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def died(self) -> ServiceError:
        tail = self.log_tail()
        why = f":\n    {tail.replace(chr(10), chr(10) + '    ')}" if tail else " (no output)"
        return ServiceError(
            f"{self.name} exited with code {self.returncode()}{why}\n    (log: {self.log_path})"
        )

    def get(self, path: str, timeout: float = 1.0) -> tuple[int, Any]:
        """``GET`` one health endpoint: (status, parsed JSON or text). Raises OSError when unreachable."""
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

    def wait(self, condition: Callable[[Service], bool], what: str, timeout: float) -> None:
        """Poll until ``condition(self)`` holds; raise :class:`ServiceError` if the process dies or time
        runs out (naming the service, what it waited for and the last readiness reason)."""
        deadline = time.monotonic() + timeout
        last = "no answer on its health port"
        while True:
            if self.returncode() is not None:
                raise self.died()
            try:
                if condition(self):
                    return
                status, body = self.get("/ready")
                last = body.get("reason", f"HTTP {status}") if isinstance(body, dict) else f"HTTP {status}"
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"{self.name} not {what} after {timeout:.0f}s (last: {last}); log: {self.log_path}"
                )
            time.sleep(0.05)

    def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; returns the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return process.returncode


def is_ready(service: Service) -> bool:
    status, _ = service.get("/ready")
    return status == 200


def python_module(module: str, *args: str) -> list[str]:
    """argv running one of our Python entry points with this interpreter."""
    return [sys.executable, "-m", module, *args]


def scrubbed_environment() -> dict[str, str]:
    """This environment without broker credentials (the mock accepts any key; real ones stay home)."""
    return {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
