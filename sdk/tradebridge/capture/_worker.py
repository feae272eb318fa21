"""The life cycle :class:`~tradebridge.capture.Recorder` and :class:`~tradebridge.capture.Replayer` share:
work in the calling thread (``run``) or in a background one (``start``, ``wait``, or a ``with`` block), be
stopped from any thread, and raise what ended the work where its result is asked for."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Generic, Self, TypeVar

from tradebridge.capture.errors import CaptureError

R = TypeVar("R")


class Worker(Generic[R]):
    #: the background thread's name
    _thread_name = "tradebridge-capture"

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.result: R | None = None

    # what each worker does
    def _open(self) -> None:
        raise NotImplementedError

    def _work(self) -> None:
        """Do the work until it ends or :meth:`stop`; set ``result`` or ``_error``."""
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def start(self) -> Self:
        """Open, then work in a background thread until the end or :meth:`stop`; :meth:`wait` for it."""
        self._open()
        self._thread = threading.Thread(target=self._work, name=self._thread_name, daemon=True)
        self._thread.start()
        return self

    def run(self) -> R:
        """Open and work in the calling thread until the end or :meth:`stop` (from a signal handler or
        another thread); raises what stopped it."""
        self._open()
        self._work()
        return self._result()

    def stop(self) -> None:
        """Ask the work to end: what was done is kept (a recording closes its open segment)."""
        self._stopping.set()

    def wait(self, timeout: float | None = None) -> R:
        """Wait for background work to end; its result."""
        if self._thread is None:
            raise CaptureError(
                "invalid_option", f"this {type(self).__name__} was not started in the background"
            )
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the {self._describe()} did not end within {timeout} s")
        return self._result()

    def _result(self) -> R:
        if self._error is not None:
            raise self._error
        assert self.result is not None
        return self.result

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()  # leaving the block ends the work: wait() inside it to let it finish
        if self._thread is not None:
            self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error
