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
    "CaptureBatch",
    "CaptureBuffer",
    "CaptureReceiver",
    "GuardedDecoder",
    "MarketBar",
    "MessageChecks",
    "NativeHealthServer",
    "PublishIO",
    "Receiver",
    "RustFeatureComputer",
    "SocketIO",
    "__version__",
    "error_codes",
    "within_limits",
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
class Receiver:
    """A subscriber's per-frame work (``crates/tradebridge-py/src/bus_recv.rs``): routes each frame to its
    topic's decoder and counts it in ``tradebridge_bus::SubscriberStats`` (read by
    ``tradebridge.bus.stats.NativeSubscriberStats``); frames it cannot take go back to Python."""

    def __new__(cls, max_frame: int, refusal: type[BaseException], max_sources: int) -> Receiver: ...
    def route(self, routes: list[tuple[str, Callable[[bytes], Any]]]) -> None:
        """The topics decoded from now on, with their decoders."""
    def attach(self, library: str, handle: int, kind: int) -> None:
        """Take frames off the socket ``handle`` of the libzmq that ``library`` links (``OSError``: not)."""
    def detach(self) -> None:
        """Forget the socket (before closing it) and the frames held from it."""
    @property
    def attached(self) -> bool: ...
    def take(self, out: list[Any], limit: int, wait: bool) -> tuple[int, int, bytes | None]:
        """Append decoded ``(topic, message)`` to ``out``; ``(frames taken, errno, frame for Python)``."""
    def handle(self, frame: bytes) -> Any:
        """``(topic, message)`` of one frame, or None when it is Python's to handle."""
    def observe(self, topic: str, seq: Any, source: Any) -> None: ...
    def observe_transit(self, micros: int) -> None: ...
    def refused(self, code: str) -> None: ...
    def filtered(self) -> None: ...
    def counters(self) -> list[int]: ...
    def counter(self, name: str) -> int: ...
    def malformed_by_code(self) -> dict[str, int]: ...
    def topics(
        self,
    ) -> dict[str, tuple[int, int, int, int, int, int, int, int | None, str | None]]: ...
    def streams(self) -> list[tuple[str, str | None, int, int, int, int, int, int]]: ...
    def transit(self) -> tuple[list[int], int, int]: ...

@final
class SocketIO:
    """The bus's hot receives on a pyzmq socket's libzmq handle, through pyzmq's own libzmq (used by
    ``tradebridge.bus._native_io``). Raises ``OSError`` unless ``library`` links a libzmq in which
    ``handle`` is a socket of type ``kind``."""

    def __new__(cls, library: str, handle: int, kind: int) -> SocketIO: ...
    @property
    def open(self) -> bool:
        """False once ``close()`` was called."""
    def recv_batch(self, frames: list[bytes], limit: int) -> int:
        """Append up to ``limit`` queued frames without waiting; 0 or libzmq's errno."""
    def close(self) -> None:
        """Forget the handle: every later call finds the socket closed."""

@final
class PublishIO:
    """A publisher's common-case ``publish`` in one call on its pyzmq socket's libzmq handle (used by
    ``tradebridge.bus._publisher``); everything else goes to ``fallback``, the publisher's Python path.
    Raises ``OSError`` unless ``library`` links a libzmq in which ``handle`` is a socket of type ``kind``."""

    def __new__(
        cls,
        library: str,
        handle: int,
        kind: int,
        lock: Any,
        routes: dict[type, tuple[bytes, list[int]]],
        encode_into: Any,
        unset: Any,
        suffix: bytes,
        fallback: Any,
        envelope: tuple[Any, ...],
    ) -> PublishIO: ...
    @property
    def direct(self) -> bool:
        """Whether ``publish`` sends (False during the publisher's start-up hold: all go to ``fallback``)."""
    @direct.setter
    def direct(self, value: bool) -> None: ...
    @property
    def published(self) -> int:
        """Messages this sent (not those ``fallback`` did)."""
    @property
    def open(self) -> bool:
        """False once ``close()`` was called."""
    @property
    def publish(self) -> Callable[[Any], int]:
        """``publish(message)``, a builtin function of one argument bound to this object: publish one
        message; its seq (from ``fallback`` when this cannot do it)."""
    def publish_batch(self, messages: list[Any], start: int) -> int:
        """With the publisher's lock held: send ``messages[start:]`` until one needs the Python path; its
        index (``len(messages)``: all sent)."""
    def close(self) -> None:
        """Forget the handle: every later ``publish`` goes to ``fallback``."""

def within_limits(data: bytes, max_size: int, max_depth: int) -> bool:
    """Whether ``data`` passes the contract decoder's size, UTF-8 and nesting-depth limits, judged as
    ``tradebridge.contracts.codec._limit_errors`` judges them."""

@final
class GuardedDecoder:
    """``tradebridge.contracts.Decoder.decode`` for exact ``bytes`` (limits, typed decode, absent-version
    fix-up in one call); anything it does not pass goes to ``fallback``, the Python decode."""

    def __new__(
        cls,
        decode: Any,
        fallback: Any,
        *,
        max_size: int,
        max_depth: int,
        current: Any = None,
        absent: Any = None,
    ) -> GuardedDecoder: ...
    @property
    def decode(self) -> Callable[[Any], Any]:
        """``decode(data)``, a builtin function of one argument bound to this object: decode one payload;
        what it does not pass goes to ``fallback`` (which raises the error)."""

@final
class MessageChecks:
    """A bus message's ``__post_init__``: symbol, schema version and signal id patterns as byte tests;
    what a test does not pass goes to the matching Python check, which raises."""

    def __new__(
        cls,
        check_version: Any,
        *,
        check_symbol: Any = None,
        check_signal_id: Any = None,
        unset: Any = None,
    ) -> MessageChecks: ...
    @property
    def check(self) -> Callable[[Any], None]:
        """``check(message)``, a builtin function of one argument bound to this object (a class's
        ``__post_init__``): the checks on ``message``, in order; raises the Python check's error."""

@final
class CaptureReceiver:
    """A recorder's receiving loop on a pyzmq SUB socket's libzmq handle (``tradebridge.capture.record``):
    frames are stamped, filtered by topic and read into Arrow column buffers with no Python per frame.
    Raises ``OSError`` unless ``library`` links a libzmq in which ``handle`` is a socket of type ``kind``."""

    def __new__(cls, library: str, handle: int, kind: int, topics: list[bytes]) -> CaptureReceiver: ...
    def fill(self, room: int, until_ns: int) -> tuple[int, int, int]:
        """Receive until ``room`` frames were kept, one was stamped at or after ``until_ns`` or the socket's
        RCVTIMEO passed: (frames kept, the last time taken in ns, 0 or libzmq's errno)."""
    @property
    def rows(self) -> int:
        """Frames in the open batch."""
    @property
    def first_ns(self) -> int | None:
        """The open batch's first stamp (ns), None when it is empty."""
    def take(self) -> CaptureBatch:
        """Hand the open batch over and start a new one."""
    def close(self) -> None:
        """Forget the handle: ``fill`` then returns ``ENOTSOCK``."""

@final
class CaptureBuffer:
    """A string column's bytes in a :class:`CaptureBatch`, read-only through the buffer protocol (no copy)."""

    def __len__(self) -> int: ...

@final
class CaptureBatch:
    """One batch of received frames as Arrow buffers."""

    @property
    def rows(self) -> int: ...
    @property
    def odd(self) -> int:
        """Frames whose envelope the SDK must read itself (their envelope columns hold placeholders)."""
    def columns(self) -> list[tuple[bytes | None, bytes | None, bytes | CaptureBuffer, int]]:
        """The capture's columns in schema order: (validity or None, offsets or None, data, null count); a
        string column's data is a :class:`CaptureBuffer` (the batch's bytes, lent without a copy)."""
    def count_gaps(
        self, start: int, stop: int, last: dict[tuple[str, str], int]
    ) -> list[tuple[str, str, int, int, int, int, int, int]]:
        """Gap counts of rows ``start..stop`` per (topic, source): (topic, source, first seq, highest seq,
        messages, gaps, dropped, out of order); ``last`` (each stream's highest seq so far) is updated."""
