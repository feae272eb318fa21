"""Captures of the bus: record what publishers send into Parquet, replay it byte for byte.

``tradebridge record`` / :class:`Recorder` write a capture (a ``.parquet`` file, or a folder of segments that
reads as one dataset in pyarrow, pandas, polars and DuckDB); ``tradebridge replay`` / :class:`Replayer`
publish it again at the recorded pace, faster, or as fast as subscribers take it. The layout is described in
:mod:`tradebridge.capture.format` and ``docs/replay.md``.
"""

from __future__ import annotations

from tradebridge.capture.errors import CAPTURE_ERROR_CODES, CaptureError
from tradebridge.capture.format import COLUMNS, SCHEMA, CaptureInfo, capture_info, list_segments
from tradebridge.capture.record import Recorder, RecordResult
from tradebridge.capture.replay import Replayer, ReplayResult

__all__ = [
    "CAPTURE_ERROR_CODES",
    "COLUMNS",
    "SCHEMA",
    "CaptureError",
    "CaptureInfo",
    "RecordResult",
    "Recorder",
    "ReplayResult",
    "Replayer",
    "capture_info",
    "list_segments",
]
