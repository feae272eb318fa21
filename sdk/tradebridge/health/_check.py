"""The guide's ``HealthCheck``: what a service says about itself, and the JSON bodies built from it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Self

from prometheus_client.core import GaugeMetricFamily, Metric

from tradebridge.health._telemetry import StatSource, Telemetry

__all__ = ["OPERATIONAL_MESSAGE", "HealthCheck", "HealthStatus", "rfc3339_seconds"]

#: The message of a healthy check unless told otherwise (the guide's body).
OPERATIONAL_MESSAGE: Final = "All systems operational"


class HealthStatus(StrEnum):
    """The three states of the ``health`` contract."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"  # still 200 on /health
    UNHEALTHY = "unhealthy"  # 503 on /health and /ready


def rfc3339_seconds(now: datetime | None = None) -> str:
    """``2025-10-21T17:00:00Z``: UTC, whole seconds, as the guide's bodies."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _metric_text(value: object) -> str:
    # The guide writes booleans as "true"/"false", JSON style.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class HealthCheck:
    """A service's health: status, message, string metrics, readiness, and its :class:`Telemetry`.

    Methods change the check in place and return it, so both the guide's builder style
    (``HealthCheck.healthy("market-data").with_metric("websocket_connected", "true")``) and live updates
    of the object a running :class:`HealthServer` reads work. Safe to update from any thread.
    """

    def __init__(
        self,
        component: str,
        status: HealthStatus | str = HealthStatus.HEALTHY,
        message: str = OPERATIONAL_MESSAGE,
        *,
        ready: bool = True,
        ready_reason: str | None = None,
    ) -> None:
        if not isinstance(component, str) or not 1 <= len(component) <= 64:
            raise ValueError("component must be a string of 1..64 characters")
        self._lock = threading.Lock()
        self._component = component
        self._status = HealthStatus(status)
        self._message = message
        self._metrics: dict[str, str] = {}
        self._ready = ready
        self._ready_reason = None if ready else ready_reason
        #: bumped by every change, so a server can tell its last rendered body is still current
        self._version = 0
        self.telemetry = Telemetry()
        self.telemetry.state_gauges = self._state_gauges

    @classmethod
    def healthy(cls, component: str) -> Self:
        """A healthy, ready check ("All systems operational")."""
        return cls(component)

    def with_metric(self, name: str, value: object) -> Self:
        """Set one metric shown in ``/health`` (values become strings; booleans ``true``/``false``)."""
        with self._lock:
            self._metrics[str(name)] = _metric_text(value)
            self._version += 1
        return self

    def remove_metric(self, name: str) -> Self:
        with self._lock:
            self._metrics.pop(name, None)
            self._version += 1
        return self

    def set_status(self, status: HealthStatus | str, message: str) -> Self:
        status = HealthStatus(status)
        with self._lock:
            self._status = status
            self._message = message
            self._version += 1
        return self

    def degraded(self, message: str) -> Self:
        """Working with reduced quality; ``/health`` still answers 200."""
        return self.set_status(HealthStatus.DEGRADED, message)

    def unhealthy(self, message: str) -> Self:
        """Not working; ``/health`` and ``/ready`` answer 503."""
        return self.set_status(HealthStatus.UNHEALTHY, message)

    def recovered(self) -> Self:
        """Back to healthy with the operational message."""
        return self.set_status(HealthStatus.HEALTHY, OPERATIONAL_MESSAGE)

    def not_ready(self, reason: str) -> Self:
        """Not ready for traffic (sockets not bound yet, indicators cold); ``/ready`` shows the reason."""
        with self._lock:
            self._ready = False
            self._ready_reason = reason
            self._version += 1
        return self

    def mark_ready(self) -> Self:
        with self._lock:
            self._ready = True
            self._ready_reason = None
            self._version += 1
        return self

    def track(self, name: str, source: StatSource) -> Self:
        """Show ``source``'s numeric stats, read at each request, in ``/health`` (``<name>_<key>``) and in
        ``/metrics`` (``tradebridge_<key>_total{source="<name>"}``). ``source`` may be a
        ``ZMQSubscriber``/``ZMQPublisher`` (its ``stats``), a stats object with ``as_dict()``, a mapping, or
        a callable returning one. Tracked inside a running event loop, it is always read on that loop,
        even by a server running in its own thread (see :meth:`Telemetry.track`)."""
        self.telemetry.track(name, source)
        return self

    def untrack(self, name: str) -> Self:
        self.telemetry.untrack(name)
        return self

    @property
    def component(self) -> str:
        return self._component

    @property
    def status(self) -> HealthStatus:
        return self._status

    @property
    def message(self) -> str:
        return self._message

    @property
    def metrics(self) -> dict[str, str]:
        """A copy of the explicit metrics (without the automatic ones)."""
        with self._lock:
            return dict(self._metrics)

    @property
    def ready(self) -> bool:
        """Marked ready and not unhealthy: an unhealthy service must not get traffic."""
        return self._ready and self._status is not HealthStatus.UNHEALTHY

    @property
    def ready_reason(self) -> str | None:
        """Why the service is not ready (``None`` when ready)."""
        with self._lock:
            if self._ready and self._status is not HealthStatus.UNHEALTHY:
                return None
            if self._status is HealthStatus.UNHEALTHY:
                return f"unhealthy: {self._message}"
            return self._ready_reason or "not ready"

    def health_body(self, now: datetime | None = None) -> dict[str, Any]:
        """The ``/health`` body: explicit metrics win over counters and tracked stats of the same name;
        ``uptime_seconds`` is always filled in."""
        automatic = self.telemetry.health_metrics()
        with self._lock:
            metrics = dict(self._metrics)
            status, message = self._status, self._message
        for name, value in automatic.items():
            metrics.setdefault(name, value)
        metrics["uptime_seconds"] = str(int(self.telemetry.uptime_seconds))
        return {
            "status": status.value,
            "component": self._component,
            "message": message,
            "metrics": metrics,
            "timestamp": rfc3339_seconds(now),
        }

    def readiness_body(self, now: datetime | None = None) -> dict[str, Any]:
        """The ``/ready`` body: ``reason`` only when not ready."""
        reason = self.ready_reason
        body: dict[str, Any] = {
            "ready": reason is None,
            "component": self._component,
            "timestamp": rfc3339_seconds(now),
        }
        if reason is not None:
            body["reason"] = reason
        return body

    def _state_gauges(self) -> list[Metric]:
        status = GaugeMetricFamily(
            "tradebridge_health_status", "Current health status (1 for the active one).", labels=["status"]
        )
        current = self._status
        for candidate in HealthStatus:
            status.add_metric([candidate.value], 1.0 if candidate is current else 0.0)
        ready = GaugeMetricFamily("tradebridge_ready", "Whether the service is ready for traffic.")
        ready.add_metric([], 1.0 if self.ready else 0.0)
        return [status, ready]

    def __repr__(self) -> str:
        return f"HealthCheck({self._component!r}, status={self._status.value!r}, ready={self.ready})"
