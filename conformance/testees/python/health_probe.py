"""A Python health server whose state is driven over stdin: the twin of the Rust ``health-probe-server``.

``python -m conformance.testees.python.health_probe [--host H] [--port P] [--component C]
[--tick-ms N] [--thread] [--aiohttp]``
prints ``listening <host>:<port>`` once bound, then answers each stdin command with one line (``ok``, a
JSON object for ``lag``, or ``error <reason>``)::

    status healthy|degraded|unhealthy [message...]
    metric <name> <value>
    ready true|false [reason...]
    count processed|malformed|gaps <n>
    latency <stage> <seconds>
    track <source> <key>=<n>[,<key>=<n>...]
    lag | lag reset      tick lateness of the simulated main loop (with --tick-ms)
    quit

With ``--tick-ms`` a simulated service loop ticks in the same event loop as the server (or, with
``--thread``, while the server runs in its own thread), so conformance tests and benchmarks can measure
what serving health requests costs the service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import threading
from collections.abc import Sequence

from tradebridge.health import (
    OPERATIONAL_MESSAGE,
    AiohttpHealthServer,
    HealthCheck,
    HealthServer,
    HealthServerError,
    HealthStatus,
)

__all__ = ["TickLag", "main"]


class TickLag:
    """How late each tick of a periodic loop ran, in microseconds."""

    def __init__(self) -> None:
        self.lags_us: list[float] = []

    def summary(self) -> dict[str, float]:
        lags = sorted(self.lags_us)
        if not lags:
            return {"ticks": 0, "mean_us": 0.0, "p50_us": 0.0, "p99_us": 0.0, "max_us": 0.0}

        def pick(q: float) -> float:
            return lags[round((len(lags) - 1) * q)]

        return {
            "ticks": len(lags),
            "mean_us": statistics.fmean(lags),
            "p50_us": pick(0.5),
            "p99_us": pick(0.99),
            "max_us": lags[-1],
        }


async def tick_loop(period_s: float, lag: TickLag) -> None:
    loop = asyncio.get_running_loop()
    target = loop.time() + period_s
    while True:
        await asyncio.sleep(max(0.0, target - loop.time()))
        now = loop.time()
        lag.lags_us.append(max(0.0, now - target) * 1e6)
        target += period_s
        if target < now:  # fell behind by more than a period: do not burst to catch up
            target = now + period_s


def apply(command: str, health: HealthCheck, lag: TickLag) -> str:
    """Run one control command; returns the reply line."""
    words = command.split()
    verb, rest = words[0], words[1:]
    tail = " ".join(rest[1:])
    match verb, rest:
        case "status", [status, *_]:
            parsed = HealthStatus(status)
            message = tail or (OPERATIONAL_MESSAGE if parsed is HealthStatus.HEALTHY else "")
            health.set_status(parsed, message)
        case "metric", [name, value]:
            health.with_metric(name, value)
        case "ready", ["true"]:
            health.mark_ready()
        case "ready", ["false", *_]:
            health.not_ready(tail or "not ready")
        case "count", [which, n]:
            counters = {
                "processed": health.telemetry.messages_processed,
                "malformed": health.telemetry.malformed_messages,
                "gaps": health.telemetry.sequence_gaps,
            }
            if which not in counters:
                raise ValueError(f"unknown counter {which!r}")
            counters[which].inc(int(n))
        case "latency", [stage, seconds]:
            health.telemetry.latency(stage).observe(float(seconds))
        case "track", [source, pairs]:
            stats = {key: int(value) for key, value in (pair.split("=", 1) for pair in pairs.split(","))}
            health.track(source, stats)
        case "lag", []:
            return json.dumps(lag.summary())
        case "lag", ["reset"]:
            lag.lags_us.clear()
        case _:
            raise ValueError(f"unknown command {command!r}")
    return "ok"


def _stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str]:
    """Lines of stdin ('' at its end), read by a daemon thread so that neither the event loop nor the
    process exit ever waits on a blocked read."""
    lines: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            line = sys.stdin.readline()
            loop.call_soon_threadsafe(lines.put_nowait, line)
            if not line:
                return

    threading.Thread(target=pump, name="probe-stdin", daemon=True).start()
    return lines


async def _control(health: HealthCheck, lag: TickLag) -> None:
    lines = _stdin_lines(asyncio.get_running_loop())
    while True:
        line = await lines.get()
        if not line or line.strip() == "quit":
            return
        if not line.strip():
            continue
        try:
            reply = apply(line.strip(), health, lag)
        except (ValueError, IndexError) as exc:
            reply = f"error {exc}"
        print(reply, flush=True)


async def _run(args: argparse.Namespace) -> int:
    # Handlers first: a signal sent right after "listening" must not meet the default, fatal action.
    terminated = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, terminated.set)
    health = HealthCheck.healthy(args.component)
    server: HealthServer | AiohttpHealthServer
    if args.aiohttp:
        server = AiohttpHealthServer(health, port=args.port, host=args.host)
    else:
        server = HealthServer(health, port=args.port, host=args.host)
    try:
        if args.thread:
            await asyncio.get_running_loop().run_in_executor(None, server.start_in_thread)
        else:
            await server.start()
    except HealthServerError as exc:
        print(f"health-probe: {exc}", file=sys.stderr)
        return 1
    print(f"listening {args.host}:{server.port}", flush=True)
    lag = TickLag()
    ticking = asyncio.create_task(tick_loop(args.tick_ms / 1000, lag)) if args.tick_ms else None
    controlling = asyncio.create_task(_control(health, lag))
    stopping = asyncio.create_task(terminated.wait())
    try:
        await asyncio.wait({controlling, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (controlling, stopping, ticking):
            if task is not None:
                task.cancel()
        await server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.testees.python.health_probe", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--component", default="health-probe")
    parser.add_argument("--tick-ms", type=float, default=None, help="simulate a main loop ticking every N ms")
    parser.add_argument("--thread", action="store_true", help="serve from a thread, not the main loop")
    parser.add_argument(
        "--aiohttp", action="store_true", help="the aiohttp server (the benchmarks' baseline), not Rust's"
    )
    args = parser.parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
