"""The mock publisher's ``--curve-*`` flags: only a subscriber holding an allowed key gets its bars."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tradebridge.bus import Curve
from tradebridge.bus._security import load_certificate, write_certificates
from tradebridge.bus.sync import ZMQSubscriber
from tradebridge.testing import free_port


def test_mock_publisher_serves_only_allowed_subscribers(tmp_path: Path) -> None:
    _, server_secret, server_public = write_certificates(tmp_path / "keys", "feed")
    client_file, client_secret_file, _ = write_certificates(tmp_path / "keys", "client")
    client_secret = load_certificate(client_secret_file)[1]
    assert client_secret is not None
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    argv = [
        sys.executable,
        "-m",
        "tradebridge.cli",
        "mock-publisher",
        "--endpoint",
        endpoint,
        "--count",
        "20",
    ]
    argv += ["--rate", "0", "--wait-for-subscribers", "1", "--wait-timeout", "20"]
    argv += ["--curve-secret-key", str(server_secret), "--curve-allow", str(client_file)]
    # --curve-allow takes a directory or keys: a file path is neither, so it is refused first
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "curve_bad_key" in refused.stderr
    argv[-1] = str(load_certificate(client_file)[0])
    with (
        ZMQSubscriber(endpoint, curve=Curve.client(server_public, client_secret)) as allowed,
        ZMQSubscriber(endpoint) as plaintext,
    ):
        allowed.connect(["market"])
        plaintext.connect(["market"])
        process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        try:
            got = [allowed.receive_one(timeout=20) for _ in range(20)]
            assert all(item is not None for item in got)
            assert plaintext.receive_one(timeout=0.3) is None
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
            process.wait()
            if process.stderr is not None:
                process.stderr.close()
