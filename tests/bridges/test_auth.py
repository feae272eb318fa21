"""The bridge against nats-servers that require credentials: a token, or a user and password, taken from
the URL; frames stored through the batch path; a wrong secret refused as ``nats_unavailable`` without the
secret in the error."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec
import pytest
import zmq
from tradebridge.bridges import BridgeError, BusToJetStream, JetStreamConfig, stream_name
from tradebridge.bridges.jetstream import connect
from tradebridge.testing import Service, free_port

from tests.bridges.nats_server import nats_server_binary
from tests.bridges.test_jetstream import Running, eventually

TOKEN = "tok-never-logged-91c2"
PASSWORD = "pw-never-logged-3b7e"


@contextmanager
def secured(store: Path, auth: list[str]) -> Iterator[str]:
    """A JetStream nats-server that requires ``auth``; its URL without credentials."""
    port = free_port()
    argv = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store), *auth]
    with Service("nats-auth", argv, ready_line=r"Server is ready", ready_timeout=15, grace=3) as server:
        server.wait_ready()
        yield f"nats://127.0.0.1:{port}"


async def _bridge_through(url: str, n: int) -> None:
    config = JetStreamConfig(servers=(url,), topics=("market",), stream_prefix="AUTH", subject_prefix="auth")
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    context = zmq.Context()
    publisher = context.socket(zmq.XPUB)
    publisher.setsockopt(zmq.LINGER, 0)
    publisher.bind(endpoint)
    running = Running(BusToJetStream(endpoint, config))
    try:
        await running.ready()
        await eventually("the bridge's subscription", lambda: publisher.poll(0) != 0)
        publisher.recv()
        for i in range(n):
            publisher.send(b"market " + msgspec.json.encode({"symbol": "AAPL", "seq": i, "source": "auth"}))
        stats = running.bridge.stats
        await eventually("every frame acknowledged", lambda: stats.stored == n)
    finally:
        publisher.close(0)
        context.term()
        await running.finish()
    nc = await connect(config)
    try:
        assert (await nc.jetstream().stream_info(stream_name(config, "market"))).state.messages == n
    finally:
        await nc.close()


@pytest.mark.parametrize(
    ("auth", "credentials", "wrong"),
    [
        (["--auth", TOKEN], TOKEN, "tok-wrong-55"),
        (["--user", "alice", "--pass", PASSWORD], f"alice:{PASSWORD}", "alice:pw-wrong-55"),
    ],
    ids=["token", "user-password"],
)
def test_credentials_from_the_url_are_used_and_a_wrong_one_is_refused_quietly(
    tmp_path: Path, auth: list[str], credentials: str, wrong: str
) -> None:
    with secured(tmp_path / "store", auth) as plain:
        asyncio.run(_bridge_through(plain.replace("nats://", f"nats://{credentials}@"), 300))
        with pytest.raises(BridgeError) as refused:
            asyncio.run(connect(JetStreamConfig(servers=(plain.replace("nats://", f"nats://{wrong}@"),))))
    assert refused.value.code == "nats_unavailable"
    assert "wrong-55" not in str(refused.value) and TOKEN not in str(refused.value)
