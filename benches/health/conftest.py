"""Collect this folder's ``bench_*.py`` files (pytest only collects ``test_*.py`` by default)."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Module | None:
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and file_path.parent == Path(__file__).parent
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
