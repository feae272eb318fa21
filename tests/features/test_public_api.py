"""tradebridge.features: the public names, the Feature indices and the SDK errors the engine raises."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tradebridge
import tradebridge._native as native
import tradebridge.features as features
from tradebridge.errors import FeatureError, FeatureTypeError, InternalError, TradebridgeError
from tradebridge.features import FEATURE_NAMES, NUM_FEATURES, Feature, MarketBar, RustFeatureComputer

from tests.features.reference import FEATURE_NAMES as REFERENCE_NAMES
from tests.features.series import make_series


def test_the_features_module_is_the_native_engine() -> None:
    assert features.MarketBar is native.MarketBar is tradebridge.MarketBar
    assert features.RustFeatureComputer is native.RustFeatureComputer is tradebridge.RustFeatureComputer
    assert tradebridge.FeatureError is FeatureError
    assert all(hasattr(features, name) for name in features.__all__)


def test_feature_indices_follow_the_names() -> None:
    assert FEATURE_NAMES == REFERENCE_NAMES and isinstance(FEATURE_NAMES, tuple)
    assert [f.name.lower() for f in Feature] == list(FEATURE_NAMES)
    assert [int(f) for f in Feature] == list(range(NUM_FEATURES)) and NUM_FEATURES == 12
    assert FEATURE_NAMES[Feature.MACD_SIGNAL] == "macd_signal"


def test_feature_indices_address_rows_and_batches() -> None:
    series = make_series(200, seed=11)
    computer = RustFeatureComputer()
    batch = computer.compute_batch(*series.columns())
    assert np.array_equal(batch[:, Feature.CLOSE], series.close)
    np.testing.assert_allclose(
        batch[40:, Feature.MACD_HIST],
        batch[40:, Feature.MACD_LINE] - batch[40:, Feature.MACD_SIGNAL],
        rtol=0,
        atol=1e-9,
    )
    o, h, lo, c, v = (float(column[0]) for column in series.columns())
    bar = MarketBar("X", o, h, lo, c, v, 0)
    assert RustFeatureComputer().compute_streaming(bar)[Feature.VOLUME] == series.volume[0]


def test_importing_features_loads_neither_msgspec_nor_zmq() -> None:
    """A strategy that only computes features pays for neither; from_update imports contracts lazily."""
    code = (
        "import sys, tradebridge.features; "
        "print(sorted(m for m in ('msgspec', 'zmq', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("call", "error", "code", "field"),
    [
        (lambda: RustFeatureComputer(rsi_period=1), FeatureError, "out_of_range", "rsi_period"),
        (lambda: RustFeatureComputer(fast_period=30), FeatureError, "invalid_value", "fast_period"),
        (lambda: RustFeatureComputer(sma_period="20"), FeatureTypeError, "wrong_type", "sma_period"),  # type: ignore[arg-type]
        (lambda: RustFeatureComputer().compute_streaming("AAPL"), FeatureTypeError, "wrong_type", "bar"),  # type: ignore[arg-type]
        (lambda: RustFeatureComputer().bars_seen(7), FeatureTypeError, "wrong_type", "symbol"),  # type: ignore[arg-type]
        (lambda: RustFeatureComputer().reset(b"X"), FeatureTypeError, "wrong_type", "symbol"),  # type: ignore[arg-type]
        (lambda: RustFeatureComputer().is_ready(1.0), FeatureTypeError, "wrong_type", "symbol"),  # type: ignore[arg-type]
        (lambda: RustFeatureComputer().__setstate__("{}"), FeatureTypeError, "wrong_type", "state"),  # type: ignore[arg-type]
        (lambda: RustFeatureComputer().__setstate__(b"{}"), FeatureError, "invalid_value", "state"),
        (
            lambda: RustFeatureComputer().compute_into(
                MarketBar("X", 1, 1, 1, 1, 1, 0), np.zeros(12, dtype=np.float32)
            ),
            FeatureTypeError,
            "wrong_type",
            "out",
        ),
        (
            lambda: RustFeatureComputer().compute_into(MarketBar("X", 1, 1, 1, 1, 1, 0), np.zeros(3)),
            FeatureError,
            "invalid_value",
            "out",
        ),
        (
            lambda: RustFeatureComputer().compute_batch([1.0], [1.0], [1.0], [1.0], [1.0, 2.0]),
            FeatureError,
            "invalid_value",
            "volume",
        ),
        (
            lambda: RustFeatureComputer().compute_batch([1.0], [1.0], [0.5], [2.0], [1.0]),
            FeatureError,
            "invalid_value",
            "close",
        ),
        (
            lambda: RustFeatureComputer().compute_batch(["x"], [1.0], [1.0], [1.0], [1.0]),
            FeatureTypeError,
            "wrong_type",
            "open",
        ),
        (
            lambda: RustFeatureComputer().compute_batch(
                [1.0], [1.0], [1.0], [1.0], [1.0], out=np.zeros((1, 12), dtype=np.int64)
            ),
            FeatureTypeError,
            "wrong_type",
            "out",
        ),
    ],
)
def test_the_engine_raises_the_sdks_errors(
    call: object, error: type[FeatureError], code: str, field: str
) -> None:
    with pytest.raises(FeatureError) as caught:
        call()  # type: ignore[operator]
    assert type(caught.value) is error
    assert (caught.value.code, caught.value.field) == (code, field)
    assert isinstance(caught.value, (TradebridgeError, ValueError))


def test_a_panic_is_an_internal_error(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InternalError, match="boom") as caught:
        native._panic("boom")
    assert isinstance(caught.value, RuntimeError) and isinstance(caught.value, TradebridgeError)
    assert caught.value.code == "internal"
    capfd.readouterr()  # Rust's panic hook printed the panic to stderr
