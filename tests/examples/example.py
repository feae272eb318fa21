"""``examples/strategy.py`` loaded as a module (it is a script, not a package): the tests use its parts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PATH = Path(__file__).resolve().parents[2] / "examples" / "strategy.py"


def load() -> ModuleType:
    module = sys.modules.get("example_strategy")
    if module is None:
        spec = importlib.util.spec_from_file_location("example_strategy", PATH)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["example_strategy"] = module
        spec.loader.exec_module(module)
    return module


strategy = load()
