"""Done-when of issue 18: the real mock publisher -> ``tradebridge record`` -> ``tradebridge replay`` -> a raw
subscriber, byte for byte, 100,000 bars; and the Python API the demo calls."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
from tradebridge.capture import Recorder, Replayer, capture_info
from tradebridge.testing import free_port

from tests.capture.conftest import RawSubscriber, endpoint, mock_publisher, run_cli

BARS = 100_000


def test_record_then_replay_is_byte_identical_to_the_wire(
    tmp_path: Path, raw_subscriber: type[RawSubscriber]
) -> None:
    live = endpoint()
    out = tmp_path / "capture"
    # two subscribers: the recorder and a raw one that sees the live frames for comparison
    with mock_publisher(
        live, BARS, "--symbols", "AAPL,MSFT,GOOGL", "--seed", "7", subscribers=2
    ) as publisher:
        recorder = run_cli("record", "--endpoint", live, "--out", str(out), "--count", str(BARS),
                           "--segment-rows", "40000")  # fmt: skip
        direct = raw_subscriber(live)
        wire = direct.take(BARS)
        _, recorder_err = recorder.communicate(timeout=60)
        assert publisher.wait_exit(30) == 0
    assert recorder.returncode == 0, recorder_err
    assert f"{BARS} messages in 3 segment(s)" in recorder_err

    info = capture_info(out)
    assert info.messages == BARS and info.gaps == 0 and info.dropped == 0
    assert [p.name for p in info.segments] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert pq.read_table(out, columns=["payload"]).column("payload").to_pylist() == wire

    replayed_at = endpoint()
    replay = run_cli("replay", str(out), "--endpoint", replayed_at, "--max", "--wait-for-subscribers", "1")
    listener = raw_subscriber(replayed_at)
    replayed = listener.take(BARS)
    _, replay_err = replay.communicate(timeout=60)
    assert replay.returncode == 0, replay_err
    assert f"replay: {BARS} frames" in replay_err
    assert replayed == wire
    assert listener.quiet(0.2) == []  # and nothing else


def test_the_api_records_in_the_background_and_replays_what_it_recorded(
    tmp_path: Path, raw_subscriber: type[RawSubscriber]
) -> None:
    live = endpoint()
    out = tmp_path / "run.parquet"
    with (
        mock_publisher(live, 5000, "--symbols", "AAPL"),
        Recorder(live, out, topics=["market"], count=5000) as rec,
    ):
        result = rec.wait(timeout=30)
    assert result.messages == 5000 and result.segments == [out] and result.gaps == 0
    recorded = pq.read_table(out)
    assert recorded.column("seq").to_pylist() == list(range(5000))
    assert set(recorded.column("symbol").to_pylist()) == {"AAPL"}
    assert set(recorded.column("type").to_pylist()) == {"BarUpdate"}

    with Replayer(out, "tcp://127.0.0.1:0", speed=None, wait_for_subscribers=1) as replayer:
        sub = raw_subscriber(replayer.endpoint)
        frames = sub.take(5000)
        outcome = replayer.wait(timeout=30)
    assert outcome.published == 5000 and outcome.passes == 1
    assert frames == recorded.column("payload").to_pylist()


def test_the_tradebridge_command_declares_record_and_replay() -> None:
    """``tradebridge record|replay`` come from the SDK's ``tradebridge.commands`` entry points."""
    import tomllib
    from importlib.metadata import EntryPoint

    from tradebridge.capture.cli import record_main, replay_main
    from tradebridge.cli import GROUP

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"][GROUP]
    assert EntryPoint("record", declared["record"], GROUP).load() is record_main
    assert EntryPoint("replay", declared["replay"], GROUP).load() is replay_main


def test_record_serves_health_and_sigterm_closes_the_capture(
    tmp_path: Path, raw_subscriber: type[RawSubscriber]
) -> None:
    live, port, out = endpoint(), free_port(), tmp_path / "capture"
    with mock_publisher(live, 0, "--symbols", "AAPL"):  # endless
        recorder = run_cli("record", "--endpoint", live, "--out", str(out), "--health-port", str(port))
        err = _sigterm_after_1000(recorder, port)
    assert recorder.returncode == 0, err
    info = capture_info(out)
    assert info.messages >= 1000 and info.gaps == 0
    assert f"record: {info.messages} messages in 1 segment(s)" in err


def _sigterm_after_1000(recorder: subprocess.Popen[str], port: int) -> str:
    """SIGTERM the recorder once its /health says it received 1000 frames; its stderr."""
    try:
        deadline = time.monotonic() + 20
        metrics: dict[str, str] = {}
        while int(metrics.get("record_received", 0)) < 1000:
            assert time.monotonic() < deadline, metrics
            time.sleep(0.05)
            url = f"http://127.0.0.1:{port}/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
                metrics = json.loads(answer.read())["metrics"]
        recorder.send_signal(signal.SIGTERM)
        _, err = recorder.communicate(timeout=20)
        return err
    finally:
        recorder.kill()
        recorder.communicate()
