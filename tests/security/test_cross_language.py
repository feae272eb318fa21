"""CURVE across languages, through the real ``bus-proxy`` binary (Rust, libzmq built with CURVE):

- Python clients to a Rust server: SDK publishers and subscribers connect to the proxy's frontend and
  backend, both CURVE servers with one allow-list (``--curve-secret-key``/``--curve-allow``);
- a Rust client to a Python server: the proxy's ``--frontend-connect`` reaches a *binding* SDK publisher
  (a CURVE server whose allow-list holds the proxy's key) with ``--curve-server-key``.

A plaintext subscriber on the backend receives nothing, and the proxy's ``/metrics`` counts it.
"""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

from tradebridge.bus import Curve
from tradebridge.bus._security import load_certificate, write_certificates
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.testing import Service, free_port, rust_binary

from tests.bus.samples import bar

PLAINTEXT_REFUSED = re.compile(
    r'^tradebridge_curve_handshake_failed_total\{source="curve_backend"\} [1-9]', re.M
)
ONE_PUBLISHER_ADMITTED = re.compile(r'^tradebridge_curve_allowed_total\{source="curve_frontend"\} 1$', re.M)


def _secret(path: Path) -> str:
    secret = load_certificate(path)[1]
    assert secret is not None
    return secret


def test_python_and_rust_peers_meet_through_a_curve_proxy(tmp_path: Path) -> None:
    keys, allow = tmp_path / "keys", tmp_path / "allow"
    _, proxy_secret, proxy_public = write_certificates(keys, "proxy")
    client_file, client_secret, _ = write_certificates(keys, "client")
    allow.mkdir()
    (allow / "client.key").write_text(client_file.read_text())
    client = Curve.client(proxy_public, _secret(client_secret))

    upstream_public, upstream_secret, _ = write_certificates(keys, "upstream")
    # the Python server the proxy connects to: it admits only the proxy's key
    upstream = ZMQPublisher(
        "tcp://127.0.0.1:0", curve=Curve.server(_secret(upstream_secret), [proxy_public]), source="upstream"
    )
    upstream.connect()

    front, back, health = free_port(), free_port(), free_port()
    argv = [str(rust_binary("bus-proxy")), "--frontend", f"tcp://127.0.0.1:{front}"]
    argv += ["--backend", f"tcp://127.0.0.1:{back}", "--health-port", str(health)]
    argv += ["--curve-secret-key", str(proxy_secret), "--curve-allow", str(allow)]
    argv += ["--curve-server-key", str(upstream_public), "--frontend-connect", upstream.endpoint]
    with Service("bus-proxy", argv, ready_line=r"bus-proxy ready", grace=2) as proxy:
        proxy.wait_ready(10)
        allowed = ZMQSubscriber(f"tcp://127.0.0.1:{back}", curve=client)
        plaintext = ZMQSubscriber(f"tcp://127.0.0.1:{back}")
        publisher = ZMQPublisher(f"tcp://127.0.0.1:{front}", bind=False, curve=client, source="downstream")
        try:
            allowed.connect(["market"])
            plaintext.connect(["market"])
            publisher.connect()
            publisher.wait_for_subscribers(1, timeout=10)  # the proxy forwards the subscription
            upstream.wait_for_subscribers(1, timeout=10)
            for i in range(10):
                publisher.publish(bar(i))
                upstream.publish(bar(i, symbol="MSFT"))
            got: dict[str, list[int]] = {}
            while (item := allowed.receive_one(timeout=2)) is not None:
                got.setdefault(item[1].source, []).append(item[1].seq)
            assert got == {"downstream": list(range(10)), "upstream": list(range(10))}
            assert plaintext.receive_one(timeout=0.3) is None

            def scrape() -> str:
                with urllib.request.urlopen(f"http://127.0.0.1:{health}/metrics", timeout=5) as response:
                    return str(response.read().decode())

            deadline = time.monotonic() + 10
            while not re.search(
                r'^tradebridge_curve_handshake_failed_total\{source="curve_backend"\} [1-9]', scrape(), re.M
            ):
                assert time.monotonic() < deadline, scrape()
                time.sleep(0.1)
            assert re.search(
                r'^tradebridge_curve_allowed_total\{source="curve_frontend"\} 1$', scrape(), re.M
            )
            assert upstream.curve_stats.allowed == 1  # the Rust client, admitted by the Python server
        finally:
            for peer in (allowed, plaintext, publisher):
                peer.close()
            upstream.close()
