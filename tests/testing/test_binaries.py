"""Rust binaries by name: PATH first, then $TRADEBRIDGE_BIN_DIR, then the checkout's target/release."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tradebridge.errors import ConfigurationError
from tradebridge.testing import BinaryNotFoundError, rust_binary


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No PATH entry, no bin dir, a working directory outside any Cargo workspace."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("TRADEBRIDGE_BIN_DIR", raising=False)
    monkeypatch.chdir(empty)
    return tmp_path


def test_path_comes_first(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = executable(nowhere / "bin" / "tb-fake")
    executable(nowhere / "dir" / "tb-fake")
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.setenv("TRADEBRIDGE_BIN_DIR", str(nowhere / "dir"))
    assert rust_binary("tb-fake") == on_path


def test_then_the_bin_dir_variable(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_dir = executable(nowhere / "dir" / "tb-fake")
    monkeypatch.setenv("TRADEBRIDGE_BIN_DIR", str(in_dir.parent))
    assert rust_binary("tb-fake") == in_dir


def test_then_the_workspace_above_the_working_directory(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (nowhere / "ws").mkdir()
    (nowhere / "ws" / "Cargo.toml").write_text('[workspace]\nmembers = ["a"]\n')
    built = executable(nowhere / "ws" / "target" / "release" / "tb-fake")
    (nowhere / "ws" / "a" / "src").mkdir(parents=True)
    (nowhere / "ws" / "a" / "Cargo.toml").write_text('[package]\nname = "a"\n')  # a member: keep walking
    monkeypatch.chdir(nowhere / "ws" / "a" / "src")
    assert rust_binary("tb-fake") == built


def test_a_name_with_a_slash_is_never_looked_up_on_path(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executable(nowhere / "bin" / "examples" / "tb-fake")
    monkeypatch.setenv("PATH", str(nowhere / "bin"))
    in_dir = executable(nowhere / "dir" / "examples" / "tb-fake")
    monkeypatch.setenv("TRADEBRIDGE_BIN_DIR", str(nowhere / "dir"))
    assert rust_binary("examples/tb-fake") == in_dir


def test_a_file_that_is_not_executable_does_not_count(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = nowhere / "dir" / "tb-fake"
    plain.parent.mkdir()
    plain.write_text("not a program")
    monkeypatch.setenv("TRADEBRIDGE_BIN_DIR", str(plain.parent))
    with pytest.raises(BinaryNotFoundError):
        rust_binary("tb-fake")


def test_missing_everywhere_says_where_it_looked_and_how_to_get_it(
    nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADEBRIDGE_BIN_DIR", str(nowhere / "dir"))
    with pytest.raises(BinaryNotFoundError) as caught:
        rust_binary("tb-never-built")
    error = caught.value
    assert isinstance(error, FileNotFoundError) and isinstance(error, ConfigurationError)
    assert error.code == "binary_not_found" and error.name == "tb-never-built"
    message = str(error)
    assert "PATH" in message and str(nowhere / "dir") in message
    assert "make build" in message and "cargo install --path" in message


def test_the_checkout_binaries_are_found_from_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # from a directory outside the checkout, with nothing else set: found above the (editable) package
    monkeypatch.delenv("TRADEBRIDGE_BIN_DIR", raising=False)
    monkeypatch.setenv("PATH", os.defpath)
    monkeypatch.chdir(tmp_path)
    found = rust_binary("execution-engine")
    assert found.parts[-3:] == ("target", "release", "execution-engine")
