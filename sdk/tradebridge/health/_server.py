"""The HTTP side: ``/health``, ``/ready``, ``/live`` and ``/metrics``, served from Rust threads.

``HealthServer`` binds through the extension module (``tradebridge._native.NativeHealthServer``): the
``tradebridge-health`` crate's accept loop, with its limits, on a tokio runtime the server owns. No request
runs Python: the bodies are rendered by :meth:`HealthServer._render` on one render thread, at most once
per batch of requests, and never older than the request that waits for them (a probe right after a state
change sees it). A page whose inputs did not change (the check's state, the standard counters, the latency
counts, the tracked stats, the clock's second) is answered from its last render, so under a burst a render
is a few tens of microseconds of Python; the one thing that can lag, by at most a second, is what the
fingerprint does not read (``/metrics``' float uptime, metrics registered straight in
``telemetry.registry``). A burst of requests therefore costs the service's main loop a few short calls,
not a parse and a handler per request (``benches/health``: a 10,000-request burst against the aiohttp server
in a thread slowed a 1 ms tick's p99 about 5x; this one stays within 2x).

Limits (:class:`HttpLimits`, defaults :data:`HEALTH_LIMITS`): 512 connections (the excess is answered
503 and counted in ``tradebridge_http_connections_refused_total``), 5 s to send a request head (slowloris
and idle keep-alive connections are closed then), 16 KiB of head (431), a declared body above 1 KiB
(413; no endpoint reads a body, and a request carrying one is answered at once and closed). The address
is loopback unless ``host`` says otherwise (``0.0.0.0`` for an orchestrator's probes from outside).

``application()`` still gives the aiohttp application (``_aiohttp.py``) for services that mount the
endpoints on their own aiohttp server.
"""

from __future__ import annotations

import abc
import asyncio
import threading
import time
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

import msgspec

from tradebridge import _native
from tradebridge.contracts import Health, Readiness
from tradebridge.errors import TradebridgeError
from tradebridge.health._check import HealthCheck, HealthStatus
from tradebridge.health._limits import HttpLimits

if TYPE_CHECKING:
    from aiohttp import web

__all__ = [
    "DEFAULT_HEALTH_HOST",
    "HEALTH_LIMITS",
    "PROMETHEUS_CONTENT_TYPE",
    "HealthServer",
    "HealthServerError",
    "start_health_server",
]

PROMETHEUS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
#: Loopback: a service exposes its state to the network only when told to (``host="0.0.0.0"``).
DEFAULT_HEALTH_HOST: Final = "127.0.0.1"
#: Probes send a request line and a few short headers, no body.
HEALTH_LIMITS: Final = HttpLimits(
    max_connections=512, header_timeout=5.0, body_timeout=5.0, max_body_bytes=1024
)
#: How long a request waits for a render before it gets 503 (the interpreter is stuck for that long).
RENDER_TIMEOUT_S: Final = 10.0

_HEALTH, _READY, _METRICS = 1, 2, 4
_encoder = msgspec.json.Encoder()

Page = tuple[int, bytes] | None


class HealthServerError(TradebridgeError, OSError):
    """The health server could not start (port in use, no permission) or was misused."""


class ServerLifecycle(abc.ABC):
    """The four ways to run a health server, shared by the native and the aiohttp one: ``async with``
    (:meth:`start`/:meth:`stop` in the caller's loop) and ``with`` (:meth:`start_in_thread`/:meth:`close`)."""

    @abc.abstractmethod
    async def start(self) -> int: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    def start_in_thread(self, timeout: float = 10.0) -> int: ...

    @abc.abstractmethod
    def close(self, timeout: float = 10.0) -> None: ...

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __enter__(self) -> Self:
        self.start_in_thread()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class HealthServer(ServerLifecycle):
    """Serves one :class:`HealthCheck` over HTTP.

    ``port=0`` picks a free port; :attr:`port` tells which once started. ``host`` defaults to loopback;
    pass ``"0.0.0.0"`` when probes come from outside the host (a pod's kubelet).
    """

    def __init__(
        self,
        health: HealthCheck,
        port: int = 0,
        host: str = DEFAULT_HEALTH_HOST,
        *,
        limits: HttpLimits = HEALTH_LIMITS,
    ) -> None:
        if not 0 <= port <= 65535:
            raise HealthServerError(f"port must be 0..65535, got {port}")
        self.health = health
        self.host = host
        self.limits = limits
        self._requested_port = port
        self._native: _native.NativeHealthServer | None = None
        self._in_loop = False
        self._lock = threading.Lock()
        self._pages: dict[int, tuple[tuple[object, ...], tuple[int, bytes]]] = {}

    # -- bodies ----------------------------------------------------------------------------------------

    def _fingerprint(self) -> tuple[object, ...]:
        """What the pages are made of, read cheaply: when it is unchanged, so are the pages (up to the
        clock's second, which is part of it)."""
        health = self.health
        telemetry = health.telemetry
        with telemetry._lock:
            stages = [(stage, histogram.count) for stage, histogram in telemetry._latency.items()]
        return (
            health._version,
            int(time.time()),
            [counter.value for counter in telemetry.standard_counters().values()],
            stages,
            list(telemetry.tracked_stats()),
        )

    def _render(self, mask: int) -> tuple[Page, Page, Page]:
        """The pages ``mask`` asks for, as the aiohttp handlers answer them (called by the render
        thread, one call at a time). A page whose inputs did not change since it was rendered is
        answered from the cache: under a burst of probes this call then costs microseconds, not the
        milliseconds of rendering ``/metrics``."""
        fingerprint = self._fingerprint()
        pages: list[Page] = [None, None, None]
        for index, bit in enumerate((_HEALTH, _READY, _METRICS)):
            if not mask & bit:
                continue
            cached = self._pages.get(bit)
            if cached is not None and cached[0] == fingerprint:
                pages[index] = cached[1]
                continue
            page = self._render_page(bit)
            self._pages[bit] = (fingerprint, page)
            pages[index] = page
        return pages[0], pages[1], pages[2]

    def _render_page(self, bit: int) -> tuple[int, bytes]:
        if bit == _HEALTH:
            body = Health(**self.health.health_body())
            return 503 if body.status == HealthStatus.UNHEALTHY.value else 200, _encoder.encode(body)
        if bit == _READY:
            readiness = Readiness(**self.health.readiness_body())
            return 200 if readiness.ready else 503, _encoder.encode(readiness)
        return 200, self.health.telemetry.render()

    def application(self) -> web.Application:
        """The aiohttp application, for services that already run aiohttp and want to mount it."""
        from tradebridge.health._aiohttp import AiohttpHealthServer

        return AiohttpHealthServer(self.health, limits=self.limits).application()

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        if self._native is None:
            raise HealthServerError("the health server is not started")
        return int(self._native.port)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._native is not None

    def connection_stats(self) -> dict[str, int]:
        """Connections ``accepted``, ``refused`` (over the cap) and ``open`` now."""
        if self._native is None:
            raise HealthServerError("the health server is not started")
        accepted, refused, open_now = self._native.connection_stats()
        return {"accepted": accepted, "refused": refused, "open": open_now}

    def _bind(self) -> int:
        with self._lock:
            if self._native is not None:
                raise HealthServerError("the health server is already started")
            limits = self.limits
            # A weak reference: a server dropped without close() then stops with its native half
            # instead of keeping both alive through the render callback.
            this = weakref.ref(self)

            def render(mask: int) -> tuple[Page, Page, Page]:
                server = this()
                return (None, None, None) if server is None else server._render(mask)

            try:
                self._native = _native.NativeHealthServer(
                    render,
                    self.host,
                    self._requested_port,
                    max_connections=limits.max_connections,
                    header_timeout=limits.header_timeout,
                    max_header_bytes=limits.max_header_bytes,
                    max_body_bytes=limits.max_body_bytes,
                    render_timeout=RENDER_TIMEOUT_S,
                )
            except OSError as exc:
                raise HealthServerError(
                    f"cannot bind the health server to {self.host}:{self._requested_port}: {exc}"
                ) from exc
            return int(self._native.port)

    def _unbind(self) -> None:
        with self._lock:
            native, self._native = self._native, None
        if native is not None:
            native.close()

    async def start(self) -> int:
        """Bind and serve (for asyncio services; the serving happens on Rust threads); returns the port."""
        port = self._bind()
        self._in_loop = True
        return port

    async def stop(self) -> None:
        """Stop serving (in-flight requests finish, for at most the shutdown grace)."""
        # Off the loop: a render in progress may be reading a tracked source on this very loop.
        await asyncio.get_running_loop().run_in_executor(None, self._unbind)
        self._in_loop = False

    def start_in_thread(self, timeout: float = 10.0) -> int:
        """Bind and serve (for synchronous programs); returns the bound port or raises
        :class:`HealthServerError`. ``timeout`` is kept for compatibility: binding does not wait."""
        return self._bind()

    def close(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start_in_thread`."""
        if self._in_loop and self._native is not None:
            raise HealthServerError("this server runs in an event loop: 'await server.stop()' instead")
        self._unbind()

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self._native is not None else "not started"
        return f"HealthServer({self.health.component!r}, {where})"


async def start_health_server(
    port: int, health: HealthCheck, host: str = DEFAULT_HEALTH_HOST, *, in_thread: bool = True
) -> HealthServer:
    """Start serving ``health`` on ``port`` and return the started server (the guide's
    ``start_health_server``, awaited; ``port=0`` picks a free one, ``server.port`` tells which).

    Requests are served from Rust threads either way; ``in_thread`` is kept for compatibility (with
    ``False`` the server is stopped with ``await server.stop()`` only, as before). ``host`` is loopback
    unless given. Stop it with ``await server.stop()``.
    """
    server = HealthServer(health, port, host)
    if in_thread:
        server.start_in_thread()
    else:
        await server.start()
    return server
