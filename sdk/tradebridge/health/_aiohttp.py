"""The aiohttp implementation of the health endpoints: ``HealthServer.application()`` for a service that
already runs aiohttp and mounts the endpoints on its own server, and ``benches/health``'s baseline.

``HealthServer`` itself serves from Rust threads (``_server.py``); this one answers the same bodies with
the same status codes, from an event loop (the service's own, or a daemon thread's). Under a burst of
requests every one of them is a slice of Python time the service's loop waits for, which is why it is no
longer the default. Limits: :class:`HttpLimits` through aiohttp's own knobs and :class:`LimitedSite`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Final

import msgspec
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from tradebridge.contracts import Health, Readiness
from tradebridge.health._check import HealthCheck, HealthStatus
from tradebridge.health._limits import HttpLimits, LimitedSite, body_timeout_middleware
from tradebridge.health._server import (
    DEFAULT_HEALTH_HOST,
    HEALTH_LIMITS,
    PROMETHEUS_CONTENT_TYPE,
    HealthServerError,
    ServerLifecycle,
)

__all__ = ["AiohttpHealthServer"]

_JSON: Final = "application/json"
_NO_STORE: Final = {"Cache-Control": "no-store"}
_ALIVE: Final = b'"alive"'
_NOT_FOUND: Final = b'{"error":"not_found"}'


class _DropClientFaults(logging.Filter):
    """aiohttp logs a malformed request at ERROR with a traceback; it is the client's fault and already
    answered 4xx, and a flood of garbage must not flood the service's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, HttpProcessingError)


_http_logger = logging.getLogger("tradebridge.health.http")
_http_logger.addFilter(_DropClientFaults())


_encoder = msgspec.json.Encoder()


def _json(status: int, body: object) -> web.Response:
    # Bodies are the contract's Structs, so they carry ``schema_version`` like every encoder's output.
    return web.Response(status=status, body=_encoder.encode(body), content_type=_JSON, headers=_NO_STORE)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _json_not_found(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return web.Response(status=404, body=_NOT_FOUND, content_type=_JSON)


class AiohttpHealthServer(ServerLifecycle):
    """Serves one :class:`HealthCheck` over HTTP with aiohttp (same API as ``HealthServer``).

    ``port=0`` picks a free port; :attr:`port` tells which once started. ``host`` defaults to loopback.
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
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # -- endpoints -------------------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        body = Health(**self.health.health_body())
        return _json(503 if body.status == HealthStatus.UNHEALTHY.value else 200, body)

    async def _ready(self, request: web.Request) -> web.Response:
        body = Readiness(**self.health.readiness_body())
        return _json(200 if body.ready else 503, body)

    async def _live(self, request: web.Request) -> web.Response:
        return web.Response(body=_ALIVE, content_type=_JSON, headers=_NO_STORE)

    async def _metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.health.telemetry.render())
        response.headers["Content-Type"] = PROMETHEUS_CONTENT_TYPE
        return response

    def application(self) -> web.Application:
        """The aiohttp application, for services that already run aiohttp and want to mount it."""
        app = web.Application(
            middlewares=[_json_not_found, body_timeout_middleware(self.limits)],
            client_max_size=self.limits.max_body_bytes,
            handler_args=self.limits.handler_args(),
        )
        # add_get also answers HEAD; other methods on these paths get 405 with an Allow header.
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/live", self._live)
        app.router.add_get("/metrics", self._metrics)
        return app

    # -- lifecycle -------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        if self._port is None:
            raise HealthServerError("the health server is not started")
        return self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._port is not None

    async def start(self) -> int:
        """Bind and serve in the running event loop; returns the bound port."""
        if self._runner is not None or self._thread is not None:
            raise HealthServerError("the health server is already started")
        return await self._bind_and_serve()

    async def _bind_and_serve(self) -> int:
        runner = web.AppRunner(self.application(), access_log=None, handle_signals=False, logger=_http_logger)
        await runner.setup()
        site = LimitedSite(runner, self.host, self._requested_port, self.limits)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise HealthServerError(
                f"cannot bind the health server to {self.host}:{self._requested_port}: {exc.strerror or exc}"
            ) from exc
        self._runner = runner
        self._port = site.port
        return self._port

    async def stop(self) -> None:
        """Stop serving (in-flight requests finish). Stops a threaded server too."""
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.close)
            return
        runner, self._runner, self._port = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    def start_in_thread(self, timeout: float = 10.0) -> int:
        """Serve from a daemon thread with its own event loop (for synchronous programs); returns the
        bound port once it is bound, or raises :class:`HealthServerError`."""
        if self._runner is not None or self._thread is not None:
            raise HealthServerError("the health server is already started")
        started = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._bind_and_serve())
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._stop_in_loop())
                loop.close()

        thread = threading.Thread(target=serve, name=f"health-server-{self.health.component}", daemon=True)
        self._thread, self._thread_loop = thread, loop
        thread.start()
        if not started.wait(timeout):
            raise HealthServerError(f"the health server did not start within {timeout} s")
        if failure:
            self._thread = self._thread_loop = None
            thread.join(timeout)
            exc = failure[0]
            if isinstance(exc, HealthServerError):
                raise exc
            raise HealthServerError(f"the health server failed to start: {exc}") from exc
        return self.port

    async def _stop_in_loop(self) -> None:
        runner, self._runner, self._port = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    def close(self, timeout: float = 10.0) -> None:
        """Stop a server started with :meth:`start_in_thread` and wait for its thread."""
        thread, loop = self._thread, self._thread_loop
        if thread is None or loop is None:
            if self._runner is not None:
                raise HealthServerError("this server runs in an event loop: 'await server.stop()' instead")
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = self._thread_loop = None

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port is not None else "not started"
        return f"AiohttpHealthServer({self.health.component!r}, {where})"
