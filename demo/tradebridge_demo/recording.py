"""``tradebridge demo --record DIR``: the run's bus traffic kept as a capture, with a copy of its report."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from tradebridge.capture import Recorder

from tradebridge_demo.follow import say

__all__ = ["CAPTURE_FILE", "finish_recording", "start_recording"]

#: the capture ``--record DIR`` writes (every topic of the run, in receive order)
CAPTURE_FILE = "capture.parquet"


def start_recording(directory: Path, endpoints: list[str]) -> Recorder:
    """One recorder on every endpoint of the run, every topic, in receive order (``--record DIR``)."""
    directory.mkdir(parents=True, exist_ok=True)
    recorder = Recorder(endpoints, directory / CAPTURE_FILE, topics=["market", "signal", "order"])
    return recorder.start()


def finish_recording(recorder: Recorder, directory: Path, report: Path) -> list[Path]:
    """Close the capture (every frame received is written) and put a copy of the report beside it."""
    # the last order updates may still be on their way to the recorder's socket: until it goes quiet
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() - quiet_since < 0.3:
        if recorder.received != last:
            last, quiet_since = recorder.received, time.monotonic()
        time.sleep(0.05)
    recorder.stop()
    result = recorder.wait(30)
    copy = directory / "report.json"
    if copy.resolve() != report.resolve():
        shutil.copyfile(report, copy)
    say(f"  capture: {result.path} ({result.messages} messages, {result.gaps} gaps)")
    return [result.path, copy]
