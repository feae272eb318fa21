"""The example's documented model: the score formula, warm-up, and edge-triggered signals."""

from __future__ import annotations

import math

import pytest
from tradebridge.features import FEATURE_NAMES, Feature

from tests.examples.example import strategy

model, crossing = strategy.model, strategy.crossing
NAN = float("nan")


def features(close: float, rsi: float, hist: float) -> list[float]:
    row = [0.0] * len(FEATURE_NAMES)
    row[Feature.CLOSE], row[Feature.RSI], row[Feature.MACD_HIST] = close, rsi, hist
    return row


def test_score_follows_the_documented_formula() -> None:
    score = model(features(100.0, 70.0, 0.05))
    assert score == pytest.approx(0.5 * 20 / 50 + 0.5 * math.tanh(0.05 / 0.05))


def test_score_is_signed_and_bounded() -> None:
    assert model(features(100.0, 50.0, 0.0)) == 0.0
    assert model(features(100.0, 100.0, 1e9)) == 1.0
    assert model(features(100.0, 0.0, -1e9)) == -1.0
    down = model(features(100.0, 30.0, -0.05))
    assert down is not None and down < 0


def test_scale_is_price_relative() -> None:
    assert model(features(20.0, 50.0, 0.01)) == pytest.approx(model(features(500.0, 50.0, 0.25)))


@pytest.mark.parametrize(
    "warming", [features(100.0, NAN, 0.1), features(100.0, 60.0, NAN), features(NAN, 60, 0)]
)
def test_no_score_while_warming_up(warming: list[float]) -> None:
    assert model(warming) is None


def test_signals_fire_once_per_crossing() -> None:
    assert crossing(None, 0.6, 0.5) == "long"
    assert crossing(0.4, 0.6, 0.5) == "long"
    assert crossing(0.6, 0.7, 0.5) is None  # still in the zone: no repeat
    assert crossing(0.7, 0.4, 0.5) is None
    assert crossing(-0.2, -0.55, 0.5) == "short"
    assert crossing(-0.55, -0.9, 0.5) is None
    assert crossing(0.9, -0.9, 0.5) == "short"  # straight through: the new side fires
    assert crossing(0.5, 0.5, 0.5) is None  # on the threshold is not beyond it
