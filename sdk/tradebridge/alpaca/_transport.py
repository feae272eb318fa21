"""What alpaca-py's HTTP layer lacks: a client-side rate limit, timeouts, and retries that read the headers.

alpaca-py sends every request through ``client._session.request`` with no timeout and retries only 429/504,
three times, with a fixed 3 s sleep that ignores ``X-RateLimit-Reset``. :class:`Transport` replaces that
one method (alpaca-py's own retry is switched off, ``client._retry = 0``) so each attempt waits for a token,
carries a timeout, and a 429, a 5xx or a connection failure is retried on :class:`RetryPolicy`'s schedule (the
Rust engine's too): until the reset time the broker announced, else capped exponential backoff with equal
jitter, within an attempt cap and a wait budget. Retrying a ``POST /v2/orders`` is safe because every
order carries a ``client_order_id``: the adapter turns Alpaca's duplicate refusal into a look-up.
"""

from __future__ import annotations

import enum
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

from tradebridge.errors import ConfigurationError

log = logging.getLogger("tradebridge.alpaca")


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


class GiveUp(enum.Enum):
    """Why retrying stops; the values are the codes the Rust engine reports too."""

    NOT_RETRYABLE = "not_retryable"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with equal jitter, the broker's hint first (the engine's policy too).

    After failure ``n`` (1-based) of a retryable answer (429, any 5xx, or no answer): the broker's hint plus
    ``base_delay * u`` when it gave one (:func:`wait_hint`), else ``step / 2 + step / 2 * u`` with
    ``step = min(base_delay * 2**(n-1), max_delay)``; ``u`` is uniform in ``[0, 1)``. No further attempt
    after ``max_attempts`` (the first included), and none whose wait would take the total waited past
    ``budget`` seconds: such a wait is not started at all.
    """

    max_attempts: int = 6
    base_delay: float = 0.1
    max_delay: float = 2.0
    budget: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        for name in ("base_delay", "max_delay", "budget"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigurationError(
                    f"RetryPolicy.{name} must be a finite number of seconds >= 0, got {value}"
                )

    def delay(self, failed: int, hint: float | None, u: float) -> float:
        """The wait after ``failed`` failures, computed with the same float operations as the Rust engine."""
        if hint is not None:
            return hint + self.base_delay * u
        step = min(self.base_delay * 2.0 ** min(max(failed - 1, 0), 62), self.max_delay)
        return step / 2.0 + step / 2.0 * u

    def decide(
        self, failed: int, retryable: bool, hint: float | None, waited: float, u: float
    ) -> float | GiveUp:
        """After ``failed`` (>= 1) failed attempts and ``waited`` seconds of waiting: the next wait, or why
        there is none."""
        if not retryable:
            return GiveUp.NOT_RETRYABLE
        if failed >= self.max_attempts:
            return GiveUp.ATTEMPTS_EXHAUSTED
        wait = self.delay(failed, hint, u)
        if waited + wait > self.budget:
            return GiveUp.BUDGET_EXHAUSTED
        return wait


def is_retryable_status(status: int | None) -> bool:
    """A 429, any 5xx, or no answer at all (``None``: refused connection, timeout)."""
    return status is None or status == 429 or 500 <= status < 600


_MAX_HINT = 86_400.0


def _seconds(text: str | None) -> float | None:
    """A plain non-negative decimal (``2``, ``0.25``); any other spelling is ignored, in both languages."""
    if text is None:
        return None
    text = text.strip(" \t")
    whole, dot, fraction = text.partition(".")
    digits = frozenset("0123456789")
    if not whole or not set(whole) <= digits or (dot and (not fraction or not set(fraction) <= digits)):
        return None
    return float(text)


def wait_hint(
    status: int | None, retry_after: str | None, rate_limit_reset: str | None, now: float
) -> float | None:
    """The wait an answer asks for: ``Retry-After`` in seconds (the HTTP-date form is not used by Alpaca and
    is ignored), else, for a 429, the time until ``X-RateLimit-Reset`` (epoch seconds) as of ``now``."""
    after = _seconds(retry_after)
    if after is not None:
        return min(after, _MAX_HINT)
    if status != 429:
        return None
    reset = _seconds(rate_limit_reset)
    if reset is None:
        return None
    return min(max(reset - now, 0.0), _MAX_HINT)


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
        waited = 0.0
        while True:
            attempt += 1
            self._local.attempts = attempt
            if self.limiter is not None:
                self._count("throttled_seconds", self.limiter.acquire())
            self._count("requests")
            try:
                response = original(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                decision = self.policy.decide(attempt, True, None, waited, self._rng.random())
                if isinstance(decision, GiveUp):
                    raise
                log.warning(
                    "%s %s failed (%s); retry %d in %.3fs",
                    method,
                    path,
                    type(exc).__name__,
                    attempt,
                    decision,
                )
                waited += self._backoff(decision)
                continue
            status = response.status_code
            if not is_retryable_status(status):
                return response
            headers = response.headers
            hint = wait_hint(
                status, headers.get("Retry-After"), headers.get("X-RateLimit-Reset"), time.time()
            )
            decision = self.policy.decide(attempt, True, hint, waited, self._rng.random())
            if isinstance(decision, GiveUp):
                return response
            if status == 429 and hint is not None and self.limiter is not None:
                self.limiter.pause_for(hint)
            log.warning("%s %s answered %d; retry %d in %.3fs", method, path, status, attempt, decision)
            waited += self._backoff(decision)

    def _backoff(self, wait: float) -> float:
        self._count("retries")
        if math.isfinite(wait) and wait > 0:
            self._count("backoff_seconds", wait)
            self._sleep(wait)
            return wait
        return 0.0
