"""The roles of the multi-host tests on a :class:`Fabric`: the proxy on B, the feed on A, strategies on C
and D, the signal sink on E; each a real process in its namespace, reports read back as JSON."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from tradebridge.testing import Service, rust_binary

from tests.scale.netns import Fabric

ROOT = Path(__file__).resolve().parents[2]
FRONTEND_PORT, BACKEND_PORT, HEALTH_PORT = 5555, 5556, 8080


class Cluster:
    def __init__(self, fabric: Fabric, workdir: Path) -> None:
        self.fabric = fabric
        self.workdir = workdir
        proxy = fabric.address("B")
        self.frontend = f"tcp://{proxy}:{FRONTEND_PORT}"
        self.backend = f"tcp://{proxy}:{BACKEND_PORT}"
        self.proxy: Service | None = None

    def start_proxy(self, *extra: str) -> Service:
        b = self.fabric.address("B")
        argv = [str(rust_binary("bus-proxy")), "--frontend", f"tcp://{b}:{FRONTEND_PORT}"]
        argv += ["--backend", f"tcp://{b}:{BACKEND_PORT}", "--health-port", str(HEALTH_PORT), *extra]
        self.proxy = self.fabric.service("B", "bus-proxy", argv, ready_line=r"bus-proxy ready", grace=2)
        self.proxy.start().wait_ready(timeout=10)
        return self.proxy

    def proxy_health(self) -> dict[str, Any]:
        return self.health("B", HEALTH_PORT)

    def health(self, host: str, port: int, path: str = "/health") -> dict[str, Any]:
        """``GET path`` on a port inside ``host`` (the test runs outside every namespace)."""
        code = (
            "import urllib.request,urllib.error\n"
            f"try: print(urllib.request.urlopen('http://127.0.0.1:{port}{path}',timeout=2).read().decode())\n"
            "except urllib.error.HTTPError as e: print(e.read().decode())"
        )
        return json.loads(self.fabric.run(host, [sys.executable, "-c", code]))  # type: ignore[no-any-return]

    def start_engine(self, host: str) -> tuple[Service, int]:
        """The real execution-engine on ``host``, with the mock broker beside it on that host's loopback:
        signals from the proxy's backend, order updates to its frontend."""
        broker, broker_health, engine_health = 8090, 8091, 8081
        mock = [sys.executable, "-m", "tradebridge.cli", "mock-broker", "--host", "127.0.0.1", "--port"]
        mock += [str(broker), "--health-port", str(broker_health), "--symbols", "AAPL", "--rate-limit", "0"]
        self.fabric.service(host, "mock-broker", mock, cwd=ROOT, grace=2).start()
        self.wait(lambda: self.health(host, broker_health, "/ready").get("ready") is True, "mock broker")
        argv = [str(rust_binary("execution-engine")), "--signal-endpoint", self.backend]
        argv += [
            "--order-endpoint",
            self.frontend,
            "--order-connect",
            "--broker-url",
            f"http://127.0.0.1:{broker}",
        ]
        argv += ["--health-port", str(engine_health), "--no-trade-stream", "--poll-interval-ms", "20"]
        env = {**os.environ, "ALPACA_API_KEY": "mock-key", "ALPACA_SECRET_KEY": "mock-secret"}
        engine = self.fabric.service(host, "execution-engine", argv, env=env, grace=3)
        engine.start()
        self.wait(lambda: self.health(host, engine_health, "/ready").get("ready") is True, "engine ready")
        return engine, engine_health

    @staticmethod
    def wait(condition: Any, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def wait_subscribers(self, n: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if int(self.proxy_health()["metrics"].get("subscribers", 0)) >= n:
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the proxy did not see {n} subscribers: {self.proxy_health()}")
            time.sleep(0.1)

    def actor(self, host: str, name: str, role: str, *args: str) -> tuple[Service, Path]:
        report = self.workdir / f"{name}.json"
        argv = [sys.executable, "-m", "tests.scale.actors", role, "--report", str(report), *args]
        service = self.fabric.service(host, name, argv, cwd=ROOT, grace=2)
        service.start()
        return service, report

    def strategies(
        self, n: int, count: int, *extra: str, prefix: str = "strategy"
    ) -> list[tuple[Service, Path]]:
        started = []
        for i in range(n):
            host = "C" if i % 2 == 0 else "D"
            name = f"{prefix}-{host}{i}"
            started.append(
                self.actor(
                    host,
                    name,
                    "strategy",
                    "--bus",
                    self.backend,
                    "--to",
                    self.frontend,
                    "--count",
                    str(count),
                    "--source",
                    name,
                    *extra,
                )
            )
        return started


def wait_files(paths: list[Path], services: list[Service], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        for service in services:
            if service.returncode() not in (None, 0):
                raise AssertionError(f"{service.name} died: {service.log_tail()}")
        if time.monotonic() > deadline:
            missing = [p.name for p in paths if not p.exists()]
            raise AssertionError(f"timed out waiting for {missing}")
        time.sleep(0.05)


def ready(report: Path) -> Path:
    return Path(str(report) + ".ready")


def read(report: Path) -> dict[str, Any]:
    return json.loads(report.read_text())  # type: ignore[no-any-return]
