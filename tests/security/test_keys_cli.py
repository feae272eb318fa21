"""``tradebridge keys``: files that pyzmq's own loader reads, a secret never readable by others, never
overwritten by accident, and never printed."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq.auth
from tradebridge.bus._security import load_certificate, public_of
from tradebridge.keys.cli import main


def test_generate_writes_a_pyzmq_readable_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path / "k"), "--name", "engine"]) == 0
    printed = capsys.readouterr().out.strip()
    public_file, secret_file = tmp_path / "k" / "engine.key", tmp_path / "k" / "engine.key_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    public, secret = zmq.auth.load_certificate(secret_file)
    assert secret is not None and public.decode() == printed
    assert zmq.auth.load_certificate(public_file) == (public, None)
    assert public_of(secret.decode()) == printed
    assert secret.decode() not in printed
    assert load_certificate(secret_file) == (printed, secret.decode())


def test_an_existing_pair_is_kept_unless_forced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path), "--name", "a"]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["generate", "--out", str(tmp_path), "--name", "a"]) == 2
    assert "exists" in capsys.readouterr().err
    assert load_certificate(tmp_path / "a.key")[0] == first
    assert main(["generate", "--out", str(tmp_path), "--name", "a", "--force"]) == 0
    second = capsys.readouterr().out.strip()
    assert second != first and load_certificate(tmp_path / "a.key")[0] == second
    assert stat.S_IMODE((tmp_path / "a.key_secret").stat().st_mode) == 0o600


def test_public_reads_pyzmq_made_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    public_file, secret_file = zmq.auth.create_certificates(str(tmp_path), "theirs")
    expected = zmq.auth.load_certificate(public_file)[0].decode()
    for path in (public_file, secret_file):
        assert main(["public", path]) == 0
        assert capsys.readouterr().out.strip() == expected
    assert main(["public", str(tmp_path / "absent.key")]) == 2


def test_the_command_is_installed() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tradebridge.cli", "keys", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "generate" in done.stdout
