"""Limits for the aiohttp servers (the mock broker, the aiohttp health application): what a slow, large or
numerous client can hold before it is refused or closed.

aiohttp has knobs for most of it: request line and header field sizes (``max_line_size``,
``max_field_size``, ``max_headers``), body size (``client_max_size``), and a keep-alive timer that, since
aiohttp 3.10, also runs from the moment a connection is accepted and closes it when no complete request
head arrived in time: set to the header timeout, it is the slowloris defence. What aiohttp lacks is a body
read timeout (a middleware here) and a connection cap (:class:`LimitedSite`, a ``TCPSite`` whose
protocol factory counts connections and answers the excess ``503`` without parsing a byte).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Final, cast

from aiohttp import web

__all__ = ["HttpLimits", "HttpStats", "LimitedSite", "body_timeout_middleware"]

_REFUSED: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b'content-length: 32\r\n\r\n{"error":"too_many_connections"}'
)


@dataclasses.dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one HTTP server accepts. The defaults suit a local service; tests shorten the timeouts."""

    #: Connections served at once; the excess is answered 503 and closed (counted in :class:`HttpStats`).
    max_connections: int = 256
    #: Seconds a client has to send a complete request head, from accept or from its previous answer
    #: (aiohttp's keep-alive timer): a slowloris, or an idle keep-alive connection, is closed then.
    header_timeout: float = 15.0
    #: Seconds a request's body may take to arrive once its head did; then 408 and the connection closes.
    body_timeout: float = 15.0
    #: Request line and each header field, in bytes (aiohttp answers 400 above it and closes).
    max_field_bytes: int = 8190
    #: The whole request head, in bytes (the Rust servers answer 431 above it and close).
    max_header_bytes: int = 16 * 1024
    #: Header fields per request.
    max_headers: int = 64
    #: Body bytes per request (aiohttp answers 413 above it).
    max_body_bytes: int = 1024**2

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {self.max_connections}")
        for name in ("header_timeout", "body_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def handler_args(self) -> dict[str, Any]:
        """aiohttp's per-connection settings (``web.Application(handler_args=...)`` or ``AppRunner``)."""
        return {
            "max_line_size": self.max_field_bytes,
            "max_field_size": self.max_field_bytes,
            "max_headers": self.max_headers,
            "keepalive_timeout": self.header_timeout,
            # A refused request's unread body is not drained ("lingering", 10 s by default): the
            # connection closes right after the answer.
            "lingering_time": 0.0,
        }


@dataclasses.dataclass(slots=True)
class HttpStats:
    """Connection counts of one site (the mock shows them in ``/metrics``)."""

    accepted: int = 0
    refused: int = 0
    open: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"connections_accepted": self.accepted, "connections_refused": self.refused}


def body_timeout_middleware(limits: HttpLimits) -> Any:
    """Reads a request's body under ``limits.body_timeout`` before the handler runs (aiohttp keeps it, so
    ``await request.json()`` then costs nothing); a client trickling its body gets 408 and is closed."""

    @web.middleware
    async def read_body_in_time(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        declared = request.content_length
        if declared is not None and declared > limits.max_body_bytes:
            # Refused on its declaration: aiohttp would otherwise read up to the limit first.
            too_large = web.json_response({"error": "payload_too_large"}, status=413)
            too_large.force_close()
            return too_large
        if request.body_exists and not request.headers.get("Upgrade"):
            try:
                async with asyncio.timeout(limits.body_timeout):
                    await request.read()
            except TimeoutError:
                response = web.json_response({"error": "body_timeout"}, status=408)
                response.force_close()
                return response
        return await handler(request)

    return read_body_in_time


class _Gate(asyncio.Protocol):
    """Stands in front of aiohttp's protocol: counts the connection and either hands every event to a
    fresh ``RequestHandler`` or, over the cap, answers 503 itself and closes. (No ``__slots__``: the hot
    methods are rebound per instance.)"""

    def __init__(self, site: LimitedSite) -> None:
        self._site = site
        self._inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stats = self._site.stats
        if stats.open >= self._site.limits.max_connections:
            stats.refused += 1
            assert isinstance(transport, asyncio.Transport)
            transport.write(_REFUSED)
            # Half-close and let the client's request drain (eof_received closes; a timer bounds it):
            # closing with unread bytes sends a reset that can destroy the answer before it is read.
            if transport.can_write_eof():
                transport.write_eof()
            asyncio.get_running_loop().call_later(1.0, transport.close)
            return
        stats.accepted += 1
        stats.open += 1
        server = self._site.handler_factory()
        self._inner = server
        server.connection_made(transport)
        # Rebind the hot paths: each event then costs one call, not two.
        self.data_received = server.data_received  # type: ignore[method-assign]
        self.eof_received = server.eof_received  # type: ignore[method-assign]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._site.stats.open -= 1
            self._inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class LimitedSite(web.BaseSite):
    """A ``TCPSite`` with a cap on open connections (``limits.max_connections``)."""

    __slots__ = ("_host", "_port", "limits", "stats")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, limits: HttpLimits) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self.limits = limits
        self.stats = HttpStats()

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    def handler_factory(self) -> asyncio.Protocol:
        server = self._runner.server
        assert server is not None, "the runner is not set up"
        return server()

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Gate(self), self._host, self._port, reuse_address=True, family=socket.AF_UNSPEC
        )

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        assert self._server is not None, "the site is not started"
        server = cast(asyncio.Server, self._server)
        return int(server.sockets[0].getsockname()[1])
