"""Type stubs for ``tradebridge._native``, the Rust extension module (crate ``tradebridge-py``).

Checked against the compiled module by ``python -m mypy.stubtest tradebridge._native`` in ``make lint``.
"""

from collections.abc import Callable
from typing import Any, Final, final

import numpy as np
import numpy.typing as npt

from tradebridge.contracts import BarUpdate

__all__ = [
    "FEATURE_NAMES",
    "MarketBar",
    "NativeHealthServer",
    "RustFeatureComputer",
    "SocketIO",
    "__version__",
    "error_codes",
]

__version__: Final[str]
FEATURE_NAMES: Final[tuple[str, ...]]

def error_codes() -> tuple[tuple[str, str], ...]:
    """Every stable error code and its one-line description, in catalogue order (Rust ``ErrorCode::ALL``)."""

def _panic(message: str) -> None:
    """Test hook: panics inside the FFI guard, which must surface as ``tradebridge.errors.InternalError``."""

@final
class MarketBar:
    """One OHLCV bar of one symbol, validated on construction and immutable.

    Refused unless the symbol is a non-empty ``str``, every value is finite, prices are > 0,
    ``low <= open <= high``, ``low <= close <= high`` and ``volume >= 0``: ``FeatureError`` (a
    ``ValueError``), or ``FeatureTypeError`` (also a ``TypeError``) for a value of the wrong type.
    """

    def __new__(
        cls,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        timestamp: int,
    ) -> MarketBar: ...
    @classmethod
    def from_update(cls, bar_update: BarUpdate) -> MarketBar:
        """The bar of a bus ``BarUpdate`` (timestamp in epoch milliseconds), validated as the constructor
        validates; anything but a ``BarUpdate`` is a ``FeatureTypeError``."""
    @property
    def symbol(self) -> str: ...
    @property
    def open(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float: ...
    @property
    def timestamp(self) -> int: ...
    def __getnewargs__(self) -> tuple[str, float, float, float, float, float, int]: ...
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class RustFeatureComputer:
    """The guide's 12 features per bar, TA-Lib-exact, with state kept per ``bar.symbol``.

    Features, in order: ``close, rsi, macd_line, macd_signal, macd_hist, ema_fast, ema_slow, spread, sma,
    dist_from_sma, volume, range_pct``; each is NaN until its indicator has TA-Lib's look-back
    (see ``lookbacks``). Periods out of TA-Lib's ranges raise ``FeatureError`` (a ``ValueError``).
    """

    def __new__(
        cls,
        *,
        rsi_period: int = 14,
        fast_period: int = 12,
        slow_period: int = 26,
        signal_period: int = 9,
        sma_period: int = 20,
    ) -> RustFeatureComputer: ...
    def compute_streaming(self, bar: MarketBar) -> list[float]:
        """The 12 features of ``bar``, advancing ``bar.symbol``'s state."""
    def compute_into(self, bar: MarketBar, out: npt.NDArray[np.float64]) -> None:
        """Like ``compute_streaming`` but writes into ``out``, a writable contiguous float64 array of 12."""
    def compute_batch(
        self,
        open: npt.ArrayLike,
        high: npt.ArrayLike,
        low: npt.ArrayLike,
        close: npt.ArrayLike,
        volume: npt.ArrayLike,
        *,
        out: npt.NDArray[np.float64] | None = None,
    ) -> npt.NDArray[np.float64]:
        """Features of one whole series (one symbol) as an ``(N, 12)`` array, computed with the GIL
        released, from a cold state; the streaming state is not touched. With ``out`` (writable,
        C-contiguous float64, shape ``(N, 12)``) the rows are written there and ``out`` is returned."""
    @property
    def feature_names(self) -> list[str]: ...
    @property
    def lookbacks(self) -> list[int]: ...
    @property
    def warmup_bars(self) -> int: ...
    @property
    def periods(self) -> list[tuple[str, int]]: ...
    @property
    def symbols(self) -> list[str]: ...
    def bars_seen(self, symbol: str) -> int: ...
    def is_ready(self, symbol: str | None = None) -> bool: ...
    def reset(self, symbol: str | None = None) -> bool: ...
    def __getstate__(self) -> bytes: ...
    def __setstate__(self, state: bytes) -> None: ...

@final
class NativeHealthServer:
    """The HTTP side of ``tradebridge.health.HealthServer`` on Rust threads (private: use HealthServer).

    Binds ``host:port`` and serves at once. ``render(mask)`` is called on a render thread, never per
    request: it returns the pages ``mask`` asks for (bit 0 ``/health``, 1 ``/ready``, 2 ``/metrics``) as
    ``(status, body)``, ``None`` for the others. Binding failures raise ``OSError``.
    """

    def __new__(
        cls,
        render: Callable[
            [int], tuple[tuple[int, bytes] | None, tuple[int, bytes] | None, tuple[int, bytes] | None]
        ],
        host: str,
        port: int,
        *,
        max_connections: int,
        header_timeout: float,
        max_header_bytes: int,
        max_body_bytes: int,
        render_timeout: float,
    ) -> NativeHealthServer: ...
    @property
    def port(self) -> int: ...
    def connection_stats(self) -> tuple[int, int, int]:
        """``(accepted, refused, open)`` connections."""
    def close(self) -> None:
        """Stops serving (open connections get the crate's shutdown grace) and the render thread."""

@final
class SocketIO:
    """The bus's hot socket calls on a pyzmq socket's libzmq handle, through pyzmq's own libzmq (used by
    ``tradebridge.bus._native_io``). Raises ``OSError`` unless ``library`` links a libzmq in which
    ``handle`` is a socket of type ``kind``."""

    def __new__(cls, library: str, handle: int, kind: int) -> SocketIO: ...
    def serve_publisher(
        self, lock: Any, routes: dict[type, tuple[bytes, list[int]]], encode: Any, unset: Any, suffix: bytes
    ) -> None:
        """Make ``publish`` serve a publisher (its lock, routes, encoder, ``UNSET``, source suffix); once."""
    @property
    def direct(self) -> bool:
        """Whether ``publish`` sends (False during the publisher's start-up hold)."""
    @direct.setter
    def direct(self, value: bool) -> None: ...
    @property
    def published(self) -> int:
        """Messages ``publish`` and ``publish_locked`` sent."""
    @property
    def open(self) -> bool:
        """False once ``close()`` was called."""
    def publish(self, message: Any) -> int:
        """The message's seq, or -1 when the publisher's Python path must handle it."""
    def publish_locked(self, message: Any) -> int:
        """``publish`` for a caller that holds the publisher's lock already."""
    def recv_batch(self, frames: list[bytes], limit: int) -> int:
        """Append up to ``limit`` queued frames without waiting; 0 or libzmq's errno."""
    def close(self) -> None:
        """Forget the handle: every later call finds the socket closed."""
