"""Bad captures and failing disks: a clear ``CaptureError`` naming the file (and row group), and everything
before the damage still replays; a recorder killed or out of space leaves whole segments behind."""

from __future__ import annotations

import resource
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tradebridge.capture import CaptureError, Recorder, Replayer, capture_info, list_segments
from tradebridge.errors import TradebridgeError

from tests.capture.conftest import (
    RawPublisher,
    RawSubscriber,
    bar_frame,
    endpoint,
    mock_publisher,
    run_cli,
    write_capture,
)

START_NS = 1_796_000_000_000_000_000


def rows(n: int, first_seq: int = 0) -> list[tuple[int, bytes]]:
    return [(START_NS + i * 1000, bar_frame("AAPL", first_seq + i)) for i in range(n)]


def replay_until_error(
    path: Path, raw_subscriber: type[RawSubscriber], expected: int
) -> tuple[list[bytes], CaptureError]:
    replayer = Replayer(path, "tcp://127.0.0.1:0", speed=None, wait_for_subscribers=1).start()
    frames = raw_subscriber(replayer.endpoint).take(expected) if expected else []
    with pytest.raises(CaptureError) as caught:
        replayer.wait(timeout=20)
    assert replayer.published == expected
    return frames, caught.value


def corrupt_row_group(path: Path, group: int) -> None:
    """Overwrite the middle of one row group's payload column chunk with junk (the footer stays intact)."""
    meta = pq.read_metadata(path)
    column = meta.schema.to_arrow_schema().get_field_index("payload")
    chunk = meta.row_group(group).column(column)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    middle = start + chunk.total_compressed_size // 2
    with path.open("r+b") as handle:
        handle.seek(middle)
        handle.write(b"\xde\xad\xbe\xef" * 64)


def test_a_corrupt_row_group_is_named_and_the_row_groups_before_it_replay(
    tmp_path: Path, raw_subscriber: type[RawSubscriber]
) -> None:
    path = write_capture(tmp_path / "c.parquet", rows(5000), row_group_rows=1000)
    corrupt_row_group(path, 3)
    frames, error = replay_until_error(path, raw_subscriber, 3000)
    assert frames == [frame for _, frame in rows(3000)]
    assert error.code == "corrupt" and error.path == path and error.row_group == 3
    assert str(path) in str(error) and "row group 3 of 5" in str(error)
    assert "after 3000 published frames" in str(error)
    assert isinstance(error, TradebridgeError) and isinstance(error, ValueError)


def test_a_truncated_segment_is_named_and_the_segments_before_it_replay(
    tmp_path: Path, raw_subscriber: type[RawSubscriber]
) -> None:
    folder = tmp_path / "capture"
    folder.mkdir()
    write_capture(folder / "part-00000.parquet", rows(2000), row_group_rows=500)
    second = write_capture(folder / "part-00001.parquet", rows(2000, 2000), row_group_rows=500)
    write_capture(folder / "part-00002.parquet", rows(2000, 4000), row_group_rows=500)
    second.write_bytes(second.read_bytes()[: second.stat().st_size // 2])
    frames, error = replay_until_error(folder, raw_subscriber, 2000)
    assert frames == [frame for _, frame in rows(2000)]
    assert error.code == "truncated" and error.path == second
    assert "part-00001.parquet" in str(error) and "footer" in str(error)


def test_a_truncated_single_file_is_refused_before_binding(tmp_path: Path) -> None:
    path = write_capture(tmp_path / "c.parquet", rows(100))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CaptureError) as caught:
        Replayer(path, "tcp://127.0.0.1:0").start()
    assert caught.value.code == "truncated" and caught.value.path == path


def test_a_parquet_file_with_other_columns_is_a_wrong_schema(tmp_path: Path) -> None:
    path = tmp_path / "prices.parquet"
    pq.write_table(pa.table({"recv_ns": [1, 2], "price": [1.0, 2.0]}), path)
    with pytest.raises(CaptureError) as caught:
        capture_info(path)
    assert caught.value.code == "wrong_schema" and "'topic' is missing" in str(caught.value)
    pq.write_table(
        pa.table(
            {name: ["x"] for name in pq.read_schema(write_capture(tmp_path / "ok.parquet", rows(1))).names}
        ),
        path,
    )
    with pytest.raises(CaptureError) as caught:
        Replayer(path, "tcp://127.0.0.1:0").start()
    assert caught.value.code == "wrong_schema" and "'recv_ns' is string" in str(caught.value)


@pytest.mark.parametrize("key", ["tradebridge.contract_version", "tradebridge.capture_format"])
def test_an_unknown_major_version_is_refused_naming_the_file(tmp_path: Path, key: str) -> None:
    metadata = {"tradebridge.capture_format": "1.0", "tradebridge.contract_version": "1.0", key: "2.0"}
    path = write_capture(tmp_path / "future.parquet", rows(10), metadata=metadata)
    with pytest.raises(CaptureError) as caught:
        Replayer(path, "tcp://127.0.0.1:0").start()
    assert caught.value.code == "unsupported_version" and caught.value.path == path
    assert key in str(caught.value) and "'2.0'" in str(caught.value)


def test_missing_and_empty_captures(tmp_path: Path) -> None:
    with pytest.raises(CaptureError) as caught:
        list_segments(tmp_path / "nothing")
    assert caught.value.code == "not_found"
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".part-00000.parquet.partial").write_bytes(b"PAR1 half a segment")
    with pytest.raises(CaptureError) as caught:
        list_segments(tmp_path / "empty")
    assert caught.value.code == "empty" and "no complete segment" in str(caught.value)


def test_an_unwritable_output_is_refused_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out in (blocker / "capture", blocker / "capture.parquet"):
        with pytest.raises(CaptureError) as caught:
            Recorder("tcp://127.0.0.1:1", out).start()
        assert caught.value.code == "unwritable" and str(blocker) in str(caught.value)
    existing = write_capture(tmp_path / "old.parquet", rows(1))
    with pytest.raises(CaptureError) as caught:
        Recorder("tcp://127.0.0.1:1", existing).start()
    assert caught.value.code == "unwritable" and "already exists" in str(caught.value)
    process = run_cli("record", "--endpoint", "tcp://127.0.0.1:1", "--out", str(blocker / "x"))
    _, err = process.communicate(timeout=20)
    assert process.returncode == 1 and err.strip().startswith("record:") and "cannot record here" in err


def test_sigkill_mid_recording_leaves_every_closed_segment_whole(
    tmp_path: Path, raw_subscriber: type[RawSubscriber]
) -> None:
    live, out = endpoint(), tmp_path / "capture"
    sizes = ["--segment-rows", "5000", "--row-group-rows", "1000"]
    with mock_publisher(live, 0, "--symbols", "AAPL,MSFT"):  # endless, unthrottled
        recorder = run_cli("record", "--endpoint", live, "--out", str(out), *sizes)
        try:
            deadline = time.monotonic() + 30
            while len(list(out.glob("part-*.parquet"))) < 3:
                assert time.monotonic() < deadline, "the recorder closed fewer than 3 segments in 30 s"
                time.sleep(0.05)
            recorder.send_signal(signal.SIGKILL)
            recorder.communicate(timeout=10)
        finally:
            recorder.kill()
            recorder.communicate()
    segments = list_segments(out)
    info = capture_info(out)
    assert info.messages == 5000 * len(segments) and info.gaps == 0
    seqs = pq.read_table(out, columns=["seq"]).column("seq").to_pylist()
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no hole between closed segments
    with Replayer(out, "tcp://127.0.0.1:0", speed=None, wait_for_subscribers=1) as replayer:
        frames = raw_subscriber(replayer.endpoint).take(info.messages)
    assert frames == pq.read_table(out, columns=["payload"]).column("payload").to_pylist()


def _limit_file_size() -> None:
    # a disk that fills up, for this process only: writing a file past 400 kB fails with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))


def test_a_full_disk_stops_recording_cleanly_with_the_count_written(
    tmp_path: Path, raw_publisher: RawPublisher
) -> None:
    out = tmp_path / "capture"
    command = [sys.executable, "-m", "tradebridge.capture", "record", "--endpoint", raw_publisher.address,
               "--out", str(out), "--segment-rows", "1000", "--row-group-rows", "500"]  # fmt: skip
    recorder = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, preexec_fn=_limit_file_size)
    try:
        raw_publisher.wait_for_subscriber()
        small = [bar_frame("AAPL", i) for i in range(3000)]  # three segments of about 25 kB
        noise = [  # incompressible: the fourth segment outgrows the limit in its first row group
            bar_frame("AAPL", 3000 + i)[:-1] + b',"note":"%s"}' % secrets.token_hex(2000).encode()
            for i in range(1000)
        ]
        raw_publisher.send(small + noise)
        _, err = recorder.communicate(timeout=30)
    finally:
        recorder.kill()
        recorder.communicate()
    assert recorder.returncode == 1, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("record: ") and "writing failed" in line and "File too large" in line
    assert "3000 of " in line and "in 3 closed segment(s)" in line
    assert capture_info(out).messages == 3000
    assert pq.read_table(out, columns=["payload"]).column("payload").to_pylist() == small
    assert not list(out.glob(".*.partial"))  # the segment that could not be finished is gone


def test_the_command_lines_refuse_bad_options(tmp_path: Path) -> None:
    process = run_cli("replay", str(tmp_path / "nothing"), "--endpoint", "tcp://127.0.0.1:0")
    _, err = process.communicate(timeout=20)
    assert process.returncode == 2 and "no such capture" in err
    process = run_cli(
        "record", "--endpoint", "tcp://127.0.0.1:1", "--out", str(tmp_path / "x"), "--topics", "news"
    )
    _, err = process.communicate(timeout=20)
    assert process.returncode == 2 and "unknown topic" in err
    process = run_cli("replay", "x", "--endpoint", "tcp://127.0.0.1:0", "--start", "yesterday")
    _, err = process.communicate(timeout=20)
    assert process.returncode == 2 and "ISO 8601" in err
    process = run_cli("bogus")
    process.communicate(timeout=20)
    assert process.returncode == 2
