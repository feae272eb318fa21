"""What a recording writes: columns, metadata, gap counts, odd frames, rotation, and a folder of segments that
reads as one dataset in pyarrow and pandas (polars and DuckDB too, where installed)."""

from __future__ import annotations

import importlib.util
import json
import socket
import time
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from tradebridge import __version__
from tradebridge.capture import COLUMNS, CaptureError, Recorder, capture_info
from tradebridge.contracts import CURRENT_VERSION

from tests.capture.conftest import RawPublisher, bar_frame


def record(publisher: RawPublisher, out: Path, frames: list[bytes], **options: object) -> None:
    """Record exactly ``frames`` (plus nothing else) from a raw publisher in the background."""
    count = options.pop("count", len(frames))
    with Recorder(publisher.address, out, count=count, **options) as recorder:  # type: ignore[arg-type]
        publisher.wait_for_subscriber()
        publisher.send(frames)
        result = recorder.wait(timeout=20)
    assert result.received == count


def test_columns_and_metadata_describe_each_frame(tmp_path: Path, raw_publisher: RawPublisher) -> None:
    heartbeat = b'system {"type":"Heartbeat","component":"engine","timestamp":1,"seq":0,"source":"rs-9"}'
    plain_signal = b'signal {"symbol":"MSFT","direction":"long","strength":0.5,"timestamp":2}'  # the guide's
    future = b'signal {"type":"Signal","symbol":"MSFT","direction":"long","strength":0.5,"timestamp":3,"schema_version":"1.7"}'  # noqa: E501
    garbage = b"market {not json"
    huge = b'market {"type":"BarUpdate","symbol":"AAPL","seq":%d}' % 2**64  # beyond the int64 column
    no_space = b"garbage-without-a-topic"
    frames = [bar_frame("AAPL", 0), heartbeat, plain_signal, future, garbage, no_space, huge]
    before = time.time_ns()
    record(raw_publisher, tmp_path / "c.parquet", frames)
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.column_names == list(COLUMNS)
    rows = table.to_pylist()
    assert [r["payload"] for r in rows] == frames
    assert [
        (r["topic"], r["type"], r["symbol"], r["seq"], r["source"], r["schema_version"]) for r in rows
    ] == [
        ("market", "BarUpdate", "AAPL", 0, "py-1-test", "1.0"),
        ("system", "Heartbeat", None, 0, "rs-9", "1.0"),
        ("signal", None, "MSFT", None, None, "1.0"),  # absent version reads as 1.0, like the decoders
        ("signal", "Signal", "MSFT", None, None, "1.7"),
        ("market", None, None, None, None, None),  # kept byte for byte; its columns are unknown
        ("", None, None, None, None, None),
        ("market", None, None, None, None, None),
    ]
    stamps = [r["recv_ns"] for r in rows]
    assert stamps == sorted(stamps) and before <= stamps[0] <= time.time_ns()

    meta = pq.read_metadata(tmp_path / "c.parquet").metadata
    text = {k.decode(): v.decode() for k, v in meta.items() if k.startswith(b"tradebridge.")}
    assert text["tradebridge.endpoint"] == raw_publisher.address
    assert text["tradebridge.host"] == socket.gethostname()
    assert text["tradebridge.version"] == __version__
    assert text["tradebridge.contract_version"] == CURRENT_VERSION
    assert text["tradebridge.capture_format"] == "1.0"
    assert text["tradebridge.messages"] == "7" and text["tradebridge.segment"] == "0"
    assert before <= int(text["tradebridge.started_ns"]) <= stamps[0]
    assert text["tradebridge.started"].endswith("Z")


def test_gaps_are_counted_per_topic_and_source(tmp_path: Path, raw_publisher: RawPublisher) -> None:
    a = [bar_frame("AAPL", s, source="py-1-a") for s in [5, 6, 7, 10, 11, 9, 12, 20]]  # late join: no gap
    b = [bar_frame("MSFT", s, source="py-2-b") for s in [0, 1, 2, 3]]
    frames = [a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3], *a[4:]]
    record(raw_publisher, tmp_path / "c", frames, segment_rows=5)
    info = capture_info(tmp_path / "c")
    # stream a: 7 -> 10 skips 2, 12 -> 20 skips 7; 9 goes backwards (out of order, not a new gap)
    assert (info.gaps, info.dropped, info.out_of_order) == (2, 9, 1)
    assert info.messages == 12 and len(info.segments) == 3
    per_segment = [json.loads(pq.read_metadata(p).metadata[b"tradebridge.streams"]) for p in info.segments]
    assert sum(s["gaps"] for seg in per_segment for s in seg) == 2
    first = {s["source"]: s for s in per_segment[0]}
    assert first["py-1-a"]["first_seq"] == 5 and first["py-2-b"]["last_seq"] == 1


def test_record_keeps_only_the_topics_asked_for_exactly(tmp_path: Path, raw_publisher: RawPublisher) -> None:
    frames = [bar_frame("AAPL", 0), b'marketdata {"x":1}', b'signal {"symbol":"A"}', bar_frame("AAPL", 1)]
    record(raw_publisher, tmp_path / "c.parquet", frames, topics=["market"], count=2)
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.column("payload").to_pylist() == [frames[0], frames[3]]
    assert json.loads(pq.read_metadata(tmp_path / "c.parquet").metadata[b"tradebridge.topics"]) == ["market"]


def test_a_folder_of_segments_reads_as_one_dataset(tmp_path: Path, raw_publisher: RawPublisher) -> None:
    frames = [bar_frame(["AAPL", "MSFT"][i % 2], i) for i in range(2500)]
    out = tmp_path / "capture"
    record(raw_publisher, out, frames, segment_rows=1000, row_group_rows=300)
    assert sorted(p.name for p in out.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert [pq.read_metadata(p).num_rows for p in sorted(out.iterdir())] == [1000, 1000, 500]

    dataset = ds.dataset(out, format="parquet")
    assert dataset.count_rows() == 2500
    assert dataset.to_table(columns=["payload"]).column("payload").to_pylist() == frames
    frame = pd.read_parquet(out)
    assert len(frame) == 2500 and list(frame.columns) == list(COLUMNS)
    assert frame.groupby("symbol")["seq"].count().to_dict() == {"AAPL": 1250, "MSFT": 1250}
    assert frame["seq"].tolist() == list(range(2500))


def test_an_open_segment_is_invisible_to_readers(tmp_path: Path, raw_publisher: RawPublisher) -> None:
    out = tmp_path / "capture"
    recorder = Recorder(raw_publisher.address, out, segment_rows=100, row_group_rows=10).start()
    try:
        raw_publisher.wait_for_subscriber()
        raw_publisher.send([bar_frame("AAPL", i) for i in range(150)])
        deadline = time.monotonic() + 10
        while not list(out.glob(".part-00001.parquet.partial")) or recorder.received < 150:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert ds.dataset(out, format="parquet").count_rows() == 100  # only the closed segment
        assert len(pd.read_parquet(out)) == 100
    finally:
        recorder.stop()
        result = recorder.wait(timeout=10)
    assert result.messages == 150 and len(result.segments) == 2


@pytest.mark.skipif(importlib.util.find_spec("polars") is None, reason="polars is not installed")
def test_polars_reads_a_capture_folder(tmp_path: Path, raw_publisher: RawPublisher) -> None:
    import polars as pl

    record(raw_publisher, tmp_path / "c", [bar_frame("AAPL", i) for i in range(50)], segment_rows=20)
    assert pl.scan_parquet(tmp_path / "c" / "*.parquet").select(pl.len()).collect().item() == 50


@pytest.mark.skipif(importlib.util.find_spec("duckdb") is None, reason="duckdb is not installed")
def test_duckdb_reads_a_capture_folder(tmp_path: Path, raw_publisher: RawPublisher) -> None:
    import duckdb

    record(raw_publisher, tmp_path / "c", [bar_frame("AAPL", i) for i in range(50)], segment_rows=20)
    query = f"select count(*), max(seq) from read_parquet('{tmp_path / 'c'}/*.parquet')"
    assert duckdb.sql(query).fetchone() == (50, 49)


def test_duration_ends_a_recording_and_bad_options_are_refused(
    tmp_path: Path, raw_publisher: RawPublisher
) -> None:
    result = Recorder(raw_publisher.address, tmp_path / "quiet.parquet", duration=0.3).run()
    assert result.messages == 0 and result.segments == [tmp_path / "quiet.parquet"]
    assert pq.read_table(tmp_path / "quiet.parquet").num_rows == 0  # an empty capture is still a capture
    for options in ({"count": 0}, {"duration": -1}, {"topics": ["news"]}, {"segment_rows": 0}):
        with pytest.raises(CaptureError) as caught:
            Recorder(raw_publisher.address, tmp_path / "x", **options)  # type: ignore[arg-type]
        assert caught.value.code == "invalid_option"


ODD_FRAMES = [b"market ", b"market", b" {}", b"", b"x {} {}", b"signal [1,2]", b"market {}\r{}",
              b"market \n{}",
              b'market {"seq":99999999999999999999999}', b'm\xff\xfe {"type":"X"}', b'market {"type":1}',
              b'system {"type":"Heartbeat"}  ', b'a\tb {"symbol":"Z"}', b'market {"type":"A","type":"B"}',
              b'market {"symbol":"\\u00e9\\n"}', b'market   {"seq":3}', b'market {"seq":-1,"source":null}',
              b'market {"schema_version":null}', b"x\xc3 {}", b"signal {}"]  # fmt: skip


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reading_a_batch_at_once_gives_what_reading_each_frame_gives(seed: int) -> None:
    """The recorder reads a batch's envelopes in one call (``_peek_batch``) and falls back to reading frame by
    frame when a frame could read differently that way; random batches of bus frames mixed with odd ones
    (no topic, line breaks, two documents in one frame, an empty body...) read the same both ways."""
    import random

    import msgspec
    import pyarrow as pa
    from tradebridge.capture._segments import _peek_batch, _peek_each, build_table
    from tradebridge.capture.format import Peek

    decoder = msgspec.json.Decoder(Peek)
    rng = random.Random(seed)
    print(f"seed {seed}")
    plain = [bar_frame(s, i, source=f"py-{i % 3}") for i, s in enumerate(["AAPL", "MSFT", "GOOGL"] * 20)]
    fields = ("source", "seq", "type", "symbol", "schema_version")
    for _ in range(200):
        frames = [rng.choice(plain) for _ in range(rng.randint(1, 30))]
        for _ in range(rng.choice([0, 0, 1, 2])):
            frames.insert(rng.randint(0, len(frames)), rng.choice(ODD_FRAMES))
        table = build_table((list(range(len(frames))), frames), decoder)
        topics, peeks = _peek_each(frames, decoder.decode)
        assert table.column("topic").to_pylist() == topics.to_pylist(), frames
        for name in fields:
            assert table.column(name).to_pylist() == [getattr(p, name) for p in peeks], (name, frames)
        assert table.column("payload").to_pylist() == frames
    # both ways were exercised: bus frames are read at once, a frame with a line break sends the batch back
    assert _peek_batch(pa.array(plain, pa.binary()), decoder) is not None
    assert _peek_batch(pa.array([*plain, b"market \n{}"], pa.binary()), decoder) is None
