"""Shutdown never hangs: closing waits at most the linger, and forgetting to close does not block exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from tradebridge.bus import BusOptions, ZMQPublisher
from tradebridge.bus.sync import ZMQPublisher as SyncPublisher
from tradebridge.testing import free_port

from tests.bus.samples import bar


@pytest.mark.parametrize("grace", [0.0, 0.5])
async def test_close_with_undeliverable_messages_waits_at_most_grace_and_linger(grace: float) -> None:
    # connecting to nobody: held for a first subscriber for the grace, or (grace 0) queued by libzmq for
    # a peer that never comes, for the linger
    options = BusOptions(linger_ms=300, startup_grace=grace)
    pub = ZMQPublisher(f"tcp://127.0.0.1:{free_port()}", bind=False, options=options)
    await pub.connect()
    for i in range(1000):
        await pub.publish(bar(i))
    started = time.monotonic()
    await pub.close()
    assert time.monotonic() - started < grace + 1.5
    assert pub.stats.dropped == (1000 if grace else 0)  # the hold's loss is counted; libzmq's is not known


@pytest.mark.parametrize("grace", [0.0, 0.5])
def test_sync_close_is_bounded_too(grace: float) -> None:
    options = BusOptions(linger_ms=300, startup_grace=grace)
    pub = SyncPublisher(f"tcp://127.0.0.1:{free_port()}", bind=False, options=options)
    pub.connect()
    pub.publish_many(bar(i) for i in range(1000))
    started = time.monotonic()
    pub.close()
    assert time.monotonic() - started < grace + 1.5
    assert pub.stats.dropped == (1000 if grace else 0)


@pytest.mark.parametrize("flavour", ["async", "sync"])
def test_a_program_that_never_closes_still_exits_promptly(flavour: str) -> None:
    port = free_port()
    script = {
        "async": f"""
            import asyncio
            from tradebridge.bus import ZMQPublisher, ZMQSubscriber
            from tradebridge.contracts import Heartbeat

            async def main():
                pub = ZMQPublisher("tcp://127.0.0.1:{port}", bind=False)
                await pub.connect()
                sub = ZMQSubscriber("tcp://127.0.0.1:{port}")
                await sub.connect(["market"])
                for i in range(1000):
                    await pub.publish(Heartbeat(component="c", timestamp=i))
                print("done", flush=True)

            asyncio.run(main())
        """,
        "sync": f"""
            from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
            from tradebridge.contracts import Heartbeat

            pub = ZMQPublisher("tcp://127.0.0.1:{port}", bind=False)
            pub.connect()
            sub = ZMQSubscriber("tcp://127.0.0.1:{port}")
            sub.connect(["market"])
            pub.publish_many(Heartbeat(component="c", timestamp=i) for i in range(1000))
            print("done", flush=True)
        """,
    }[flavour]
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "done"
    assert time.monotonic() - started < 10
