"""The supervisor with real child processes: readiness three ways, death with its log tail, SIGTERM then
SIGKILL, ports free after stop, no orphans when the parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tradebridge.testing import Service, ServiceError, free_port, port_is_free

CHILD = [sys.executable, str(Path(__file__).with_name("child.py"))]


def test_ready_once_the_health_port_answers_200_and_the_port_is_free_after_stop(tmp_path: Path) -> None:
    port = free_port()
    service = Service("web", [*CHILD, "health", str(port), "3"], health_port=port, log_dir=tmp_path)
    with service:
        status, body = service.get("/ready")
        assert (status, body) == (200, {"ready": True})
        assert not port_is_free(port)
    assert service.returncode() == 0  # SIGTERM was enough: it shut down cleanly
    assert port_is_free(port)
    assert "serving on" in (tmp_path / "web.log").read_text()


def test_ready_on_a_matching_output_line_and_the_match_is_kept() -> None:
    with Service("liner", [*CHILD, "line"], ready_line=r"listening on port (\d+)") as service:
        assert service.ready_match is not None and service.ready_match.group(1) == "43210"
        assert service.running
    assert service.returncode() == -signal.SIGTERM


def test_ready_through_a_callable() -> None:
    calls: list[int] = []

    def third_time(service: Service) -> bool:
        calls.append(1)
        return len(calls) >= 3

    with Service("called", [*CHILD, "line"], ready=third_time):
        assert len(calls) == 3


def test_a_dead_child_is_an_error_naming_its_exit_code_and_log_tail() -> None:
    service = Service("crasher", [*CHILD, "die"], ready_line="never printed")
    with pytest.raises(ServiceError) as caught, service:
        pass
    error = caught.value
    assert error.code == "exited" and error.service == "crasher"
    assert "crasher exited with code 3" in str(error)
    assert "fatal detail 0" in str(error) and "fatal detail 2" in error.log_tail
    assert "fatal detail 2" in service.output()  # the temporary log is gone, its text is not


def test_not_ready_in_time_names_the_last_readiness_reason(tmp_path: Path) -> None:
    port = free_port()
    service = Service("slow", [*CHILD, "health", str(port), "1000000"], health_port=port, ready_timeout=0.5)
    with pytest.raises(ServiceError) as caught, service:
        pass
    assert caught.value.code == "not_ready"
    assert "slow not ready after 0.5s (last: warming up)" in str(caught.value)
    assert not service.running and port_is_free(port)  # a failed start is stopped, too


def test_sigkill_after_the_grace_period_when_sigterm_is_ignored() -> None:
    service = Service("stubborn", [*CHILD, "stubborn"], ready_line="ignoring SIGTERM", grace=0.3)
    with service:
        pass
    assert service.returncode() == -signal.SIGKILL


def test_stop_is_idempotent_and_safe_before_start() -> None:
    service = Service("twice", [*CHILD, "line"], ready_line="listening")
    assert service.stop() is None
    service.start().wait_ready(10)
    first = service.stop()
    assert first == -signal.SIGTERM and service.stop() == first
    with pytest.raises(ServiceError, match="already started"):
        service.start()


def test_a_missing_executable_is_a_start_failure(tmp_path: Path) -> None:
    with pytest.raises(ServiceError) as caught:
        Service("ghost", [str(tmp_path / "no-such-binary")]).start()
    assert caught.value.code == "start_failed" and "no-such-binary" in str(caught.value)


def test_waiting_for_an_exit_returns_its_code_or_says_it_still_runs() -> None:
    crasher = Service("crasher", [*CHILD, "die"]).start()
    assert crasher.wait_exit(10) == 3
    crasher.stop()
    sleeper = Service("sleeper", [*CHILD, "line"]).start()
    try:
        with pytest.raises(ServiceError, match="still running"):
            sleeper.wait_exit(0.2)
    finally:
        sleeper.stop()


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in "ZX"  # a zombie has exited; only its parent's bookkeeping remains


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_children_die_with_a_killed_parent() -> None:
    parent = subprocess.Popen([*CHILD, "parent"], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.startswith("child "), line
        child = int(line.split()[1])
        assert not _gone(child)
        parent.kill()  # SIGKILL: no cleanup code of the parent runs
        parent.wait(10)
        deadline = time.monotonic() + 10
        while not _gone(child):
            assert time.monotonic() < deadline, "the child outlived its killed parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close() if parent.stdout else None
        if not _gone(child := locals().get("child", 0)) and child:
            os.kill(child, signal.SIGKILL)
