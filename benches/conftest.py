"""Benchmarks are ``bench_*.py`` files (so ``pytest tests`` never picks them up); collect them here.

One collector for the whole folder: ``pytest benches`` and ``pytest benches/<area>`` both work, and no
benchmark is collected twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
