"""Health, readiness, liveness and Prometheus metrics endpoints for Python services.

=================  ===============================================================================
``GET /health``    the ``health`` contract JSON; 200 when healthy or degraded, 503 when unhealthy
``GET /ready``     ``{ready, component, timestamp[, reason]}``; 200 when ready, 503 otherwise
``GET /live``      200, ``"alive"``
``GET /metrics``   Prometheus text: uptime, messages processed, malformed, gaps, latency, tracked stats
=================  ===============================================================================

``HEAD`` works on all four; unknown paths get 404, other methods 405 with an ``Allow`` header.

The server binds loopback unless ``host`` says otherwise and answers from Rust threads, so probes never
run Python per request; its limits (connections, header timeout, sizes) are :data:`HEALTH_LIMITS`, see
``_server.py``. :class:`HttpLimits` and :class:`LimitedSite` bound aiohttp servers the same way (the mock
broker uses them).

In an asyncio service (the server gets its own thread unless ``in_thread=False``)::

    health = HealthCheck.healthy("strategy").not_ready("indicators warming up")
    server = await start_health_server(8080, health)      # port 0: a free one, see server.port
    health.track("market", subscriber)          # received, malformed, gaps, dropped at each scrape
    ...
    health.mark_ready()
    health.telemetry.messages_processed.inc()
    health.telemetry.latency("decode").observe(elapsed_seconds)
    await server.stop()

In a synchronous program: ``HealthServer(health, port).start_in_thread()`` and ``server.close()``.
"""

from tradebridge.health._aiohttp import AiohttpHealthServer
from tradebridge.health._check import OPERATIONAL_MESSAGE, HealthCheck, HealthStatus, rfc3339_seconds
from tradebridge.health._limits import HttpLimits, HttpStats, LimitedSite, body_timeout_middleware
from tradebridge.health._server import (
    DEFAULT_HEALTH_HOST,
    HEALTH_LIMITS,
    PROMETHEUS_CONTENT_TYPE,
    HealthServer,
    HealthServerError,
    start_health_server,
)
from tradebridge.health._telemetry import (
    LATENCY_BUCKETS_SECONDS,
    Counter,
    LatencyHistogram,
    Telemetry,
    read_stats,
)

__all__ = [
    "DEFAULT_HEALTH_HOST",
    "HEALTH_LIMITS",
    "LATENCY_BUCKETS_SECONDS",
    "OPERATIONAL_MESSAGE",
    "PROMETHEUS_CONTENT_TYPE",
    "AiohttpHealthServer",
    "Counter",
    "HealthCheck",
    "HealthServer",
    "HealthServerError",
    "HealthStatus",
    "HttpLimits",
    "HttpStats",
    "LatencyHistogram",
    "LimitedSite",
    "Telemetry",
    "body_timeout_middleware",
    "read_stats",
    "rfc3339_seconds",
    "start_health_server",
]
