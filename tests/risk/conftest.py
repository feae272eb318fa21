"""The risk suite: the real engine binary, the real mock broker, real sockets, randomised timing.

``make test`` runs each scenario a few times (``harness.RUNS``); ``make stress`` (``pytest -m stress``)
runs the rest, up to ``harness.STRESS_RUNS`` each. Every run prints its seed; ``TB_RISK_SEED=<n>``
replays a failure.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stress: the full repeated or randomised runs of a proof (`make stress`, not `make test`)"
    )
