"""What alpaca-py's HTTP layer lacks: a client-side rate limit, timeouts, and retries that read the headers.

alpaca-py sends every request through ``client._session.request`` with no timeout and retries only 429/504,
three times, with a fixed 3 s sleep that ignores ``X-RateLimit-Reset``. :class:`Transport` replaces that
one method (alpaca-py's own retry is switched off, ``client._retry = 0``) so each attempt waits for a token,
carries a timeout, and a 429, a 5xx or a connection failure is retried with jittered exponential backoff, or
exactly until the reset time the broker announced. Retrying a ``POST /v2/orders`` is safe because every
order carries a ``client_order_id``: the adapter turns Alpaca's duplicate refusal into a look-up.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger("tradebridge.alpaca")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class TokenBucket:
    """At most ``per_minute`` requests in any 60 s window, with bursts of up to ``burst``.

    The bucket holds ``burst`` tokens and refills at ``(per_minute - burst) / 60`` per second, so a full
    burst plus a minute of refill never exceeds ``per_minute``: Alpaca counts 200 requests per minute, and a
    plain bucket refilling at 200/min would allow 200 + burst.
    """

    def __init__(
        self,
        per_minute: int = 200,
        burst: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be >= 1")
        self.per_minute = per_minute
        self.burst = burst if burst is not None else max(1, min(20, per_minute // 10))
        if not 1 <= self.burst <= per_minute:
            raise ValueError("burst must be between 1 and per_minute")
        self._rate = max(per_minute - self.burst, 1) / 60.0
        self._tokens = float(self.burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    def acquire(self) -> float:
        """Take one token, sleeping until one is available; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                # the epsilon absorbs float rounding, which could otherwise leave 0.999999... tokens forever
                if now >= self._paused_until and self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(self._tokens - 1.0, 0.0)
                    return waited
                wait = max(self._paused_until - now, (1.0 - self._tokens) / self._rate, 1e-6)
            self._sleep(wait)
            waited += wait

    def pause_for(self, seconds: float) -> None:
        """The broker said its window is spent: hold every other caller for ``seconds``."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """Retries on 429, 5xx and connection failures: ``base_delay * 2**n`` with full jitter, capped."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    #: longest wait for an announced rate-limit reset before giving up on the retry
    max_reset_wait: float = 60.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return rng.uniform(ceiling / 2, ceiling)


def _reset_wait(response: requests.Response, policy: RetryPolicy) -> float | None:
    """Seconds until the broker's window resets, from ``Retry-After`` or ``X-RateLimit-Reset`` (epoch s)."""
    retry_after = response.headers.get("Retry-After")
    try:
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), policy.max_reset_wait)
        reset = response.headers.get("X-RateLimit-Reset")
        if reset is not None:
            return min(max(float(reset) - time.time(), 0.0), policy.max_reset_wait)
    except ValueError:
        return None
    return None


class Transport:
    """Wraps one ``requests.Session.request``: token, timeout, retries. Thread-safe."""

    def __init__(
        self,
        limiter: TokenBucket | None,
        policy: RetryPolicy,
        timeout: float | tuple[float, float],
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.limiter = limiter
        self.policy = policy
        self.timeout = timeout
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._local = threading.local()
        self._stats_lock = threading.Lock()
        #: attempts sent, retries made, seconds spent waiting for tokens or backoff
        self.stats: dict[str, float] = {
            "requests": 0,
            "retries": 0,
            "throttled_seconds": 0.0,
            "backoff_seconds": 0.0,
        }

    def _count(self, name: str, amount: float = 1) -> None:
        with self._stats_lock:
            self.stats[name] += amount

    @property
    def attempts(self) -> int:
        """Attempts made by the calling thread's most recent request (1 when it was not retried)."""
        return int(getattr(self._local, "attempts", 0))

    def install(self, session: requests.Session) -> None:
        original = session.request

        def request(method: str, url: str, **kwargs: Any) -> requests.Response:
            return self.send(original, method, url, **kwargs)

        session.request = request  # type: ignore[method-assign,assignment]

    def send(
        self, original: Callable[..., requests.Response], method: str, url: str, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        path = urlsplit(url).path
        attempt = 0
        while True:
            attempt += 1
            self._local.attempts = attempt
            if self.limiter is not None:
                self._count("throttled_seconds", self.limiter.acquire())
            self._count("requests")
            try:
                response = original(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt > self.policy.max_retries:
                    raise
                wait = self.policy.backoff(attempt - 1, self._rng)
                log.warning(
                    "%s %s failed (%s); retry %d in %.3fs", method, path, type(exc).__name__, attempt, wait
                )
                self._backoff(wait)
                continue
            status = response.status_code
            if status not in RETRY_STATUSES or attempt > self.policy.max_retries:
                return response
            wait = self.policy.backoff(attempt - 1, self._rng)
            if status == 429:
                reset = _reset_wait(response, self.policy)
                if reset is not None:
                    # wait for the announced reset, plus a little jitter so clients don't stampede
                    wait = reset + self._rng.uniform(0, min(self.policy.base_delay, 1.0))
                    if self.limiter is not None:
                        self.limiter.pause_for(reset)
            log.warning("%s %s answered %d; retry %d in %.3fs", method, path, status, attempt, wait)
            self._backoff(wait)

    def _backoff(self, wait: float) -> None:
        self._count("retries")
        if math.isfinite(wait) and wait > 0:
            self._count("backoff_seconds", wait)
            self._sleep(wait)
