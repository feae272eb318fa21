"""The feature engine's public face: bars, the Rust computer and the names of its 12 features.

>>> from tradebridge.features import Feature, MarketBar, RustFeatureComputer
>>> computer = RustFeatureComputer()
>>> row = computer.compute_streaming(MarketBar.from_update(bar_update))  # doctest: +SKIP
>>> row[Feature.RSI]  # doctest: +SKIP

``MarketBar.from_update`` turns a bus :class:`~tradebridge.contracts.BarUpdate` into a validated bar (the
timestamp stays in epoch milliseconds); every refusal is a :class:`~tradebridge.errors.FeatureError`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from tradebridge._native import FEATURE_NAMES, MarketBar, RustFeatureComputer
from tradebridge.errors import FeatureError, FeatureTypeError

__all__ = [
    "FEATURE_NAMES",
    "NUM_FEATURES",
    "Feature",
    "FeatureError",
    "FeatureTypeError",
    "MarketBar",
    "RustFeatureComputer",
]

NUM_FEATURES: Final[int] = len(FEATURE_NAMES)


class Feature(IntEnum):
    """The column of each feature in a computed row (``row[Feature.RSI]``, ``batch[:, Feature.SMA]``).

    Members follow :data:`FEATURE_NAMES` (``Feature.RSI.name.lower() == FEATURE_NAMES[Feature.RSI]``).
    """

    CLOSE = 0
    RSI = 1
    MACD_LINE = 2
    MACD_SIGNAL = 3
    MACD_HIST = 4
    EMA_FAST = 5
    EMA_SLOW = 6
    SPREAD = 7
    SMA = 8
    DIST_FROM_SMA = 9
    VOLUME = 10
    RANGE_PCT = 11


# The members are written out for type checkers; this keeps them from drifting from the Rust order.
if [member.name.lower() for member in Feature] != list(FEATURE_NAMES):  # pragma: no cover
    raise ImportError(f"tradebridge.features.Feature does not match FEATURE_NAMES {FEATURE_NAMES}")
