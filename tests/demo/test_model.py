"""The strategy's documented model: the score formula, warm-up, and edge-triggered signals."""

from __future__ import annotations

import math

import pytest
from tradebridge.demo.strategy import crossing, momentum_score

NAN = float("nan")


def features(close: float, rsi: float, hist: float) -> list[float]:
    # [close, rsi, macd_line, macd_signal, macd_hist, ...]: only close, rsi and hist are read
    return [close, rsi, 0.0, 0.0, hist, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_score_follows_the_documented_formula() -> None:
    score = momentum_score(features(100.0, 70.0, 0.05))
    assert score == pytest.approx(0.5 * 20 / 50 + 0.5 * math.tanh(0.05 / 0.05))


def test_score_is_signed_and_bounded() -> None:
    assert momentum_score(features(100.0, 50.0, 0.0)) == 0.0
    assert momentum_score(features(100.0, 100.0, 1e9)) == 1.0
    assert momentum_score(features(100.0, 0.0, -1e9)) == -1.0
    down = momentum_score(features(100.0, 30.0, -0.05))
    assert down is not None and down < 0


def test_scale_is_price_relative() -> None:
    cheap = momentum_score(features(20.0, 50.0, 0.01))
    dear = momentum_score(features(500.0, 50.0, 0.25))
    assert cheap == pytest.approx(dear)


@pytest.mark.parametrize(
    "warming", [features(100.0, NAN, 0.1), features(100.0, 60.0, NAN), features(NAN, 60, 0)]
)
def test_no_score_while_warming_up(warming: list[float]) -> None:
    assert momentum_score(warming) is None


def test_signals_fire_once_per_crossing() -> None:
    assert crossing(None, 0.6, 0.5) == "long"
    assert crossing(0.4, 0.6, 0.5) == "long"
    assert crossing(0.6, 0.7, 0.5) is None  # still in the zone: no repeat
    assert crossing(0.7, 0.4, 0.5) is None
    assert crossing(-0.2, -0.55, 0.5) == "short"
    assert crossing(-0.55, -0.9, 0.5) is None
    assert crossing(0.9, -0.9, 0.5) == "short"  # straight through: the new side fires
    assert crossing(0.5, 0.5, 0.5) is None  # on the threshold is not beyond it
