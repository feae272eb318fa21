from __future__ import annotations

import pytest

from tests.features.series import Series, make_series


@pytest.fixture(scope="session")
def long_series() -> Series:
    """200,000 bars with gaps, flat runs and spikes."""
    return make_series(200_000, seed=3)


@pytest.fixture(scope="session")
def calm_series() -> Series:
    """A minute-bar random walk like the perf anchors' (sigma 20 %/yr), no gaps, flats or spikes."""
    return make_series(100_000, seed=42, sigma=0.0006, gaps=False, flats=False, spikes=False)
