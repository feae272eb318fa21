"""A refused broker URL is refused before any connection is attempted, in both languages.

- Python: the adapter is built with every refused URL vector while ``socket`` is rigged to record and fail
  any connect or name lookup; none happens. A control shows the rig does see the adapter connect.
- Both: for the hostile forms that point at loopback, a real listening socket on that port sees no
  connection from the Rust ``execution-engine`` or the Python adapter, and each reports the rule's code; a
  control run with the accepted URL does reach the listener.
- Rust: every refused URL vector makes the engine exit non-zero with the code; under ``strace`` (when the
  machine has it) the engine makes no ``connect`` call at all, DNS lookups of hostile names included.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tradebridge.alpaca import AlpacaPaperTrading, BrokerUnavailableError, BrokerUrlError, RetryPolicy
from tradebridge.testing import free_port, rust_binary

from conformance.broker_access.harness import Case, load_cases

API_KEY = "PKNOCONNECT000000000"
SECRET_KEY = "sEcReT-no-connect-7d2e"
REFUSED = [case for case in load_cases("url") if "code" in case.expected]
#: The issue's hostile forms (and the guide's trailing-dot, port and scheme variants), pointed at a port.
LOOPBACK_HOSTILE = [
    ("http://127.1:{port}", "non_canonical_ip"),
    ("http://0x7f.0.0.1:{port}", "non_canonical_ip"),
    ("http://0x7f000001:{port}", "non_canonical_ip"),
    ("http://2130706433:{port}", "non_canonical_ip"),
    ("http://017700000001:{port}", "non_canonical_ip"),
    ("http://0177.0.0.1:{port}", "non_canonical_ip"),
    ("http://127.000.000.001:{port}", "non_canonical_ip"),
    ("http://127.0.0.1.:{port}", "non_canonical_ip"),
    ("http://[::ffff:127.0.0.1]:{port}", "not_paper_host"),
    ("http://0.0.0.0:{port}", "not_paper_host"),
    ("http://localhost.:{port}", "not_paper_host"),
    ("http://user:pw@127.0.0.1:{port}", "userinfo"),
    ("http://127.0.0.1:{port}/v2/orders", "bad_path"),
    ("http://127.0.0.1:{port}#@evil.example", "bad_path"),
    ("ftp://127.0.0.1:{port}", "bad_scheme"),
]
ISSUE_HOSTILE = [
    "http://127.0.0.1.example.com",
    "http://127.1",
    "http://0x7f.0.0.1:8090",
    "http://[::ffff:127.0.0.1]:8090",
    "http://user@127.0.0.1:8090",
    "https://p\u0430per-api.alpaca.markets",
    "https://xn--pper-api-16g.alpaca.markets",
    "https://paper-api.alpaca.markets.",
    "HTTP://paper-api.alpaca.markets",
    "https://paper-api.alpaca.markets:8443",
    "https://paper-api.alpaca.markets.evil.example",
]


def test_the_issues_hostile_urls_are_vectors() -> None:
    refused = {case.request["input"] for case in REFUSED}
    assert set(ISSUE_HOSTILE) <= refused, set(ISSUE_HOSTILE) - refused


# --- Python ---------------------------------------------------------------------------------------------


@pytest.fixture
def socket_guard(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every connect or name lookup made while the test runs, each refused."""
    attempts: list[str] = []

    def refusing(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{name}{args[1:] if name.startswith('socket.') else args}")
            raise OSError(f"socket guard: {name} called")

        return call

    monkeypatch.setattr(socket.socket, "connect", refusing("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refusing("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refusing("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refusing("getaddrinfo"))
    return attempts


@pytest.fixture
def empty_env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text("")
    return path


@pytest.mark.parametrize("case", [c for c in REFUSED if c.request["input"]], ids=lambda case: case.id)
def test_python_refuses_before_any_socket(case: Case, socket_guard: list[str], empty_env_file: Path) -> None:
    with pytest.raises(BrokerUrlError) as info:
        AlpacaPaperTrading(API_KEY, SECRET_KEY, base_url=case.request["input"], env_file=empty_env_file)
    assert info.value.code == case.expected["code"]
    assert socket_guard == []


def test_the_socket_guard_sees_the_adapter_connect(socket_guard: list[str], empty_env_file: Path) -> None:
    adapter = AlpacaPaperTrading(
        API_KEY,
        SECRET_KEY,
        base_url=f"http://127.0.0.1:{free_port()}",
        env_file=empty_env_file,
        rate_limit_per_minute=None,
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(BrokerUnavailableError):
        adapter.get_clock()
    assert socket_guard, "the guard missed the adapter's connection"


def test_refusals_never_show_userinfo(empty_env_file: Path) -> None:
    with pytest.raises(BrokerUrlError) as info:
        AlpacaPaperTrading(
            API_KEY, SECRET_KEY, base_url=f"http://key:{SECRET_KEY}@127.0.0.1:1", env_file=empty_env_file
        )
    assert info.value.code == "userinfo" and SECRET_KEY not in str(info.value)


# --- both languages, a real listener --------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.setblocking(False)
    yield server
    server.close()


def connections(server: socket.socket, wait: float = 0.0) -> int:
    """Connections that reached ``server`` (accepted and closed), waiting up to ``wait`` for the first."""
    server.settimeout(wait) if wait else server.setblocking(False)
    count = 0
    while True:
        try:
            peer, _ = server.accept()
        except (BlockingIOError, TimeoutError):
            return count
        peer.close()
        count += 1
        server.setblocking(False)


def engine_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALPACA_", "APCA_"))}
    return {**env, "ALPACA_API_KEY": API_KEY, "ALPACA_SECRET_KEY": SECRET_KEY, "RUST_LOG": "warn"}


def engine_command(url: str) -> list[str]:
    return [
        str(rust_binary("execution-engine")),
        "--broker-url",
        url,
        "--signal-endpoint",
        f"tcp://127.0.0.1:{free_port()}",
        "--order-endpoint",
        f"tcp://127.0.0.1:{free_port()}",
        "--health-port",
        "0",
    ]


def run_engine(url: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(prefix or []), *engine_command(url)],
        env=engine_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(("template", "code"), LOOPBACK_HOSTILE, ids=[t for t, _ in LOOPBACK_HOSTILE])
def test_hostile_loopback_forms_never_reach_the_port(
    template: str, code: str, listener: socket.socket, empty_env_file: Path
) -> None:
    url = template.format(port=listener.getsockname()[1])
    finished = run_engine(url)
    assert finished.returncode != 0 and f"[{code}]" in finished.stderr, finished.stderr
    assert SECRET_KEY not in finished.stderr + finished.stdout
    with pytest.raises(BrokerUrlError) as info:
        AlpacaPaperTrading(API_KEY, SECRET_KEY, base_url=url, env_file=empty_env_file).get_clock()
    assert info.value.code == code
    assert connections(listener) == 0


def test_the_listener_sees_an_accepted_url(listener: socket.socket, empty_env_file: Path) -> None:
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    engine = subprocess.Popen(
        engine_command(url), env=engine_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert connections(listener, wait=15.0) >= 1, "the engine never reached its broker"
    finally:
        engine.kill()
        engine.wait(timeout=10)
    adapter = AlpacaPaperTrading(
        API_KEY,
        SECRET_KEY,
        base_url=url,
        env_file=empty_env_file,
        rate_limit_per_minute=None,
        timeout=0.5,
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(BrokerUnavailableError):
        adapter.get_clock()  # the listener never answers: a timeout
    assert connections(listener) >= 1


# --- Rust: every vector, and no connect() at all ---------------------------------------------------------


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.id)
def test_the_engine_refuses_every_vector_with_its_code(case: Case) -> None:
    finished = run_engine(case.request["input"])
    assert finished.returncode != 0
    assert f"[{case.expected['code']}]" in finished.stderr, finished.stderr


STRACE = shutil.which("strace")


def traced_connects(url: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = tmp_path / "strace.log"
    prefix = [str(STRACE), "-f", "-qq", "-e", "trace=connect", "-e", "signal=none", "-o", str(log)]
    finished = run_engine(url, prefix)
    return finished, [line for line in log.read_text().splitlines() if "connect(" in line]


@pytest.mark.skipif(STRACE is None, reason="strace is not installed (the listener tests still run)")
@pytest.mark.parametrize("url", ISSUE_HOSTILE)
def test_the_engine_makes_no_connect_call_for_a_hostile_url(url: str, tmp_path: Path) -> None:
    finished, connects = traced_connects(url, tmp_path)
    assert finished.returncode != 0 and "[" in finished.stderr, finished.stderr
    assert connects == []


@pytest.mark.skipif(STRACE is None, reason="strace is not installed (the listener tests still run)")
def test_strace_sees_the_engine_connect(listener: socket.socket, tmp_path: Path) -> None:
    port = listener.getsockname()[1]
    log = tmp_path / "strace.log"
    prefix = [str(STRACE), "-f", "-qq", "-e", "trace=connect", "-e", "signal=none", "-o", str(log)]
    # its own process group: strace and the engine it runs are stopped together
    traced = subprocess.Popen(
        [*prefix, *engine_command(f"http://127.0.0.1:{port}")],
        env=engine_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    seen = False
    try:
        assert connections(listener, wait=15.0) >= 1, "the engine never reached its broker"
        # strace may write the line a moment after the connection is accepted
        deadline = time.monotonic() + 10.0
        while not seen and time.monotonic() < deadline:
            seen = log.exists() and f"htons({port})" in log.read_text()
            time.sleep(0.02)
    finally:
        os.killpg(traced.pid, signal.SIGKILL)
        traced.wait(timeout=10)
    assert seen, log.read_text() if log.exists() else "no strace log"
