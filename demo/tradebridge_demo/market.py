"""The mock market's clock on the streaming path: the demo steps the mock broker's seeded walk through its
admin API (``POST /admin/advance``), one bar of every symbol per step, at the demo's ``--rate``. The bars
then travel the guide's real path (the broker's market-data WebSocket, ``market-data``, the bus), and a run
has exactly its ``--bars``: a broker clock of its own would keep printing bars until stopped. In a
deterministic run the clock is not paced: each step waits until the last one settled (:mod:`.lockstep`)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable

from tradebridge.testing import ServiceError

__all__ = ["MarketClock"]


class MarketClock:
    """``steps`` bars of every symbol, ``interval`` seconds apart, from a background thread; with ``settle``,
    each step once ``settle(bars so far)`` returned instead (``per_step``: bars a step makes)."""

    def __init__(
        self,
        broker_url: str,
        steps: int,
        interval: float,
        settle: Callable[[int], None] | None = None,
        per_step: int = 1,
    ) -> None:
        self._url = broker_url.rstrip("/") + "/admin/advance"
        self._steps = steps
        self._interval = interval
        self._settle = settle
        self._per_step = per_step
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="demo-market-clock", daemon=True)

    def start(self) -> MarketClock:
        self._thread.start()
        return self

    def _run(self) -> None:
        started = time.monotonic()
        body = json.dumps({"bars": 1}).encode()
        try:
            for step in range(self._steps):
                if self._settle is not None:
                    if self._stop.is_set():
                        return
                    if step:
                        self._settle(step * self._per_step)
                # paced against the start, so slow answers do not stretch the run
                elif self._stop.wait(max(0.0, started + step * self._interval - time.monotonic())):
                    return
                request = urllib.request.Request(
                    self._url, data=body, method="POST", headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
            self._done.set()
        except BaseException as exc:  # reported by raise_errors(): a stuck market must not pass unnoticed
            self._error = exc

    @property
    def finished(self) -> bool:
        """Every bar was made."""
        return self._done.is_set()

    def raise_errors(self) -> None:
        if self._error is not None:
            if isinstance(self._error, ServiceError):  # the flow did not settle: said as the services say it
                raise self._error
            raise RuntimeError(f"the demo's market clock failed: {self._error!r}") from self._error

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(12)
