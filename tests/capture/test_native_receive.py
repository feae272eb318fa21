"""The native receiving path (``tradebridge._native.CaptureReceiver``) against the Python one: the same frames
make the same capture rows whichever path reads them, odd frames included, and the receiver keeps to its
bounds (room, look time, quiet socket, closed handle, topics)."""

from __future__ import annotations

import errno
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zmq
from tradebridge._native import CaptureReceiver
from tradebridge.bus._native_io import _LIBRARY
from tradebridge.capture import Recorder, capture_info
from tradebridge.capture import record as record_module
from tradebridge.capture._segments import build_table
from tradebridge.capture.format import Peek

from tests.capture.conftest import RawPublisher, bar_frame
from tests.capture.test_capture_file import ODD_FRAMES

pytestmark = pytest.mark.skipif(_LIBRARY is None, reason="the native path needs pyzmq's Cython backend")


class Pair:
    """An XPUB and a SUB over inproc in one context; the receiver reads the SUB through its libzmq handle."""

    def __init__(self, topics: tuple[bytes, ...] = ()) -> None:
        self.context: zmq.Context[Any] = zmq.Context()
        self.pub = self.context.socket(zmq.XPUB)
        self.pub.setsockopt(zmq.SNDHWM, 0)
        self.pub.bind("inproc://capture")
        self.sub = self.context.socket(zmq.SUB)
        self.sub.setsockopt(zmq.RCVHWM, 0)
        self.sub.setsockopt(zmq.RCVTIMEO, 50)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect("inproc://capture")
        assert self.pub.poll(5000), "no subscription"
        self.pub.recv()
        assert _LIBRARY is not None
        self.receiver = CaptureReceiver(_LIBRARY, self.sub.underlying, zmq.SUB, list(topics))

    def close(self) -> None:
        self.receiver.close()
        self.sub.close(0)
        self.pub.close(0)
        self.context.term()


@pytest.fixture
def pair() -> Iterator[Pair]:
    made = Pair()
    yield made
    made.close()


def mutate(rng: random.Random, frame: bytes) -> bytes:
    """``frame`` with one or two small edits of the kinds where sloppy JSON readers disagree:
    a byte dropped or doubled, JSON punctuation, a repeated or retyped field, a number's form, an escape,
    non-ASCII text, a control character, another topic."""
    edits = [
        lambda f, i: f[:i] + f[i + 1 :],
        lambda f, i: f[:i] + f[i : i + 1] + f[i:],
        lambda f, i: (
            f[:i] + rng.choice([b"{", b"}", b"[", b"]", b",", b":", b'"', b" ", b"\t", b"\n"]) + f[i:]
        ),
        lambda f, i: f.replace(
            b'"seq":', rng.choice([b'"seq":-', b'"seq":0', b'"seq":1.5,"x":', b'"seq":1e3,"y":'])
        ),
        lambda f, i: f.replace(b'"seq":', b'"seq":"7","z":' if rng.random() < 0.5 else b'"seq":null,"seq":'),
        lambda f, i: f.replace(
            b'"symbol":', rng.choice([b'"symbol":1,"s":', b'"symbol":null,"s":', b'"symbol":[],"s":'])
        ),
        lambda f, i: (
            f[:-1]
            + rng.choice([b',"seq":9223372036854775808}', b',"source":"b"}', b',"a":{"b":[1,{}]}}', b",}"])
        ),
        lambda f, i: f.replace(b"AAPL", rng.choice([b"A\\u0041PL", b"\xc3\xa9", b"A\x01", b"A\\nB"])),
        lambda f, i: rng.choice([b"", b"market", b"market ", b" ", b"marketx "]) + f.partition(b" ")[2],
        lambda f, i: f + rng.choice([b" ", b"\r\n", b" x", b"{}", b"\x00"]),
        lambda f, i: f.replace(
            b'"schema_version":"1.0"', rng.choice([b'"schema_version":null', b'"schema_version":2', b""])
        ),
        lambda f, i: f.replace(
            b"10.5", rng.choice([b"01", b"1.", b"-", b".5", b"1e", b"-0", b"1E+2", b"true", b"nul"])
        ),
    ]
    for _ in range(rng.choice([1, 1, 2])):
        frame = rng.choice(edits)(frame, rng.randrange(len(frame) + 1))
    return frame


def read_one_by_one(pair: Pair, frames: list[bytes]) -> list[tuple[int, pa.Table, pa.Table]]:
    """Each frame through the socket into a batch of its own, as (native table, Python table)."""
    decoder = msgspec.json.Decoder(Peek)
    for frame in frames:
        pair.pub.send(frame)
    tables = []
    for frame in frames:
        kept, _, error = pair.receiver.fill(1, 2**62)
        assert (kept, error) == (1, 0)
        batch = pair.receiver.take()
        native = build_table(batch, decoder)
        python = build_table((native.column("recv_ns").to_pylist(), [frame]), decoder)
        tables.append((batch.odd, native, python))
    return tables


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_native_reading_equals_the_python_reading_frame_by_frame(pair: Pair, seed: int) -> None:
    """Bus frames, the odd frames of the batch test and random small edits of bus frames, one per batch so
    that the native reading's own answer is compared (a batch with a frame it leaves aside is read in
    Python whole): every row equals the Python path's, and both ways were taken often."""
    rng = random.Random(seed)
    print(f"seed {seed}")
    plain = [bar_frame(s, i, source=f"py-{i % 3}") for i, s in enumerate(["AAPL", "MSFT", "GOOGL"] * 10)]
    frames = plain + list(ODD_FRAMES) + [mutate(rng, rng.choice(plain)) for _ in range(600)]
    native_read = 0
    for odd, native, python in read_one_by_one(pair, frames):
        assert native.to_pylist() == python.to_pylist()
        native_read += not odd
    print(f"{native_read} of {len(frames)} frames read natively")
    assert native_read >= len(plain) + 100
    assert len(frames) - native_read >= 100


def test_a_batch_with_an_odd_frame_is_read_whole_in_python(pair: Pair) -> None:
    decoder = msgspec.json.Decoder(Peek)
    frames = [bar_frame("AAPL", 0), b"market {not json", bar_frame("MSFT", 1), b'm\xff {"seq":2}']
    for frame in frames:
        pair.pub.send(frame)
    assert pair.receiver.fill(10, 2**62) == (4, pytest.approx(time.time_ns(), abs=5e9), errno.EAGAIN)
    batch = pair.receiver.take()
    assert (batch.rows, batch.odd) == (4, 2)
    table = build_table(batch, decoder)
    stamps = table.column("recv_ns").to_pylist()
    assert table.to_pylist() == build_table((stamps, frames), decoder).to_pylist()
    assert table.column("topic").to_pylist() == ["market", "market", "market", "m\ufffd"]


def test_a_table_keeps_the_frames_it_was_lent_after_the_batch_is_gone(pair: Pair) -> None:
    """The string columns' bytes are lent to Arrow, not copied: the table must hold them after the batch (and
    the receiver's next batches) are dropped, and nobody may write into them."""
    decoder = msgspec.json.Decoder(Peek)
    frames = [bar_frame(symbol, seq) for seq, symbol in enumerate(["AAPL", "MSFT", "GOOGL"] * 100)]
    for frame in frames:
        pair.pub.send(frame)
    assert pair.receiver.fill(len(frames), 2**62)[0] == len(frames)
    batch = pair.receiver.take()
    payload = batch.columns()[-1][2]
    assert not isinstance(payload, bytes) and len(payload) == sum(map(len, frames))
    view = memoryview(payload)
    assert view.readonly and view.tobytes() == b"".join(frames)
    with pytest.raises(TypeError, match="read-only"):
        view[0] = 0
    del view, payload
    table = build_table(batch, decoder)
    del batch
    for frame in frames:  # a new batch in the receiver, allocated where the old one might have been
        pair.pub.send(frame.replace(b"market", b"MARKET"))
    assert pair.receiver.fill(len(frames), 2**62)[0] == len(frames)
    pair.receiver.take()
    assert table.column("payload").to_pylist() == frames
    assert table.column("symbol").to_pylist() == ["AAPL", "MSFT", "GOOGL"] * 100


def test_fill_keeps_to_its_room_its_look_time_and_a_quiet_socket(pair: Pair) -> None:
    for i in range(10):
        pair.pub.send(bar_frame("AAPL", i))
    assert pair.receiver.fill(3, 2**62)[::2] == (3, 0)  # room
    assert pair.receiver.rows == 3
    first = pair.receiver.first_ns
    assert first is not None
    kept, now, error = pair.receiver.fill(100, 0)  # the look is due: back after one frame
    assert (kept, error) == (1, 0) and now >= first
    kept, _, error = pair.receiver.fill(100, 2**62)  # the rest, then the socket's 50 ms timeout
    assert (kept, error) == (6, errno.EAGAIN)
    batch = pair.receiver.take()
    assert batch.rows == 10 and pair.receiver.rows == 0 and pair.receiver.first_ns is None
    stamps = build_table(batch, msgspec.json.Decoder(Peek)).column("recv_ns").to_pylist()
    assert stamps == sorted(stamps)
    pair.receiver.close()
    assert pair.receiver.fill(1, 2**62)[::2] == (0, errno.ENOTSOCK)


def test_topics_are_kept_by_exact_name() -> None:
    pair = Pair(topics=(b"market", b"signal"))
    try:
        frames = [bar_frame("AAPL", 0), b'marketdata {"x":1}', b'signal {"symbol":"A"}', b'system {"seq":1}']
        for frame in frames:
            pair.pub.send(frame)
        assert pair.receiver.fill(10, 2**62)[::2] == (2, errno.EAGAIN)
        table = build_table(pair.receiver.take(), msgspec.json.Decoder(Peek))
        assert table.column("payload").to_pylist() == [frames[0], frames[2]]
    finally:
        pair.close()


def test_a_socket_of_another_kind_is_refused(pair: Pair) -> None:
    assert _LIBRARY is not None
    with pytest.raises(OSError, match="does not belong"):
        CaptureReceiver(_LIBRARY, pair.pub.underlying, zmq.SUB, [])


def test_both_receiving_paths_write_the_same_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recording with the native receiver and one with the Python path (``TRADEBRIDGE_NATIVE_BUS=0``'s),
    of the same frames in several row groups and segments: the same rows (receive times aside) and the same
    gap counts."""
    rng = random.Random(5)
    frames = [bar_frame(["AAPL", "MSFT"][i % 2], i, source=f"py-{i % 2}") for i in range(3000)]
    for i in sorted(rng.sample(range(3000), 40), reverse=True):
        del frames[i]  # gaps
    for i in rng.sample(range(len(frames)), 10):
        frames[i] = rng.choice(ODD_FRAMES) or b"market {}"
    captures = {}
    for native in (True, False):
        monkeypatch.setattr(record_module, "_NATIVE", native)
        out = tmp_path / f"native-{native}"
        publisher = (
            RawPublisher()
        )  # a fresh one: the first recorder's unsubscription must not start the second
        try:
            with Recorder(
                publisher.address, out, count=len(frames), segment_rows=1000, row_group_rows=256
            ) as rec:
                publisher.wait_for_subscriber()
                publisher.send(frames)
                assert rec.wait(timeout=20).messages == len(frames)
        finally:
            publisher.close()
        captures[native] = out
    tables = {n: pq.read_table(p).drop_columns(["recv_ns"]) for n, p in captures.items()}
    assert tables[True].to_pylist() == tables[False].to_pylist()
    assert tables[True].column("payload").to_pylist() == frames
    info = {n: capture_info(p) for n, p in captures.items()}
    assert (info[True].gaps, info[True].dropped) == (info[False].gaps, info[False].dropped)
    assert info[True].gaps > 0
    streams = {n: [json.dumps(s, sort_keys=True) for s in i.streams] for n, i in info.items()}
    assert streams[True] == streams[False]


@pytest.mark.parametrize("seed", [1, 2])
def test_native_gap_counts_equal_the_python_counts(pair: Pair, seed: int) -> None:
    """Random streams (three sources, two topics, skips, repeats, steps back, frames without a seq) in batches
    split at random rows, as segments split them: the extension's counts equal ``_GapCounter``'s, stream by
    stream and in the same order, with the highest seq carried from batch to batch."""
    from tradebridge.capture._segments import _GapCounter, _Totals

    rng = random.Random(seed)
    print(f"seed {seed}")
    decoder = msgspec.json.Decoder(Peek)
    native, python = _GapCounter(), _GapCounter()
    next_seq = {s: rng.randrange(0, 1000) for s in ("a", "b", "c")}
    for _ in range(20):
        frames = []
        for _ in range(rng.randrange(1, 200)):
            source = rng.choice("abc")
            next_seq[source] += rng.choice([1, 1, 1, 1, 2, 5, 0, -3])
            topic = rng.choice(["market", "signal"])
            if rng.random() < 0.05:
                frames.append(b'%s {"source":"%s"}' % (topic.encode(), source.encode()))
            else:
                frames.append(
                    b'%s {"seq":%d,"source":"%s"}' % (topic.encode(), next_seq[source], source.encode())
                )
        for frame in frames:
            pair.pub.send(frame)
        assert pair.receiver.fill(len(frames), 2**62)[0] == len(frames)
        batch = pair.receiver.take()
        assert batch.odd == 0
        table = build_table(batch, decoder)
        cut = rng.randrange(0, len(frames) + 1)
        for start, stop in ((0, cut), (cut, len(frames))):
            ours, theirs = _Totals(), _Totals()
            native.count_native(batch, start, stop, ours)
            part = table.slice(start, stop - start)
            python.count(
                part.column("topic").combine_chunks(),
                part.column("source").combine_chunks(),
                part.column("seq").combine_chunks(),
                theirs,
            )
            assert list(ours.streams.items()) == list(theirs.streams.items())
            assert (ours.gaps, ours.dropped, ours.out_of_order) == (
                theirs.gaps,
                theirs.dropped,
                theirs.out_of_order,
            )
    assert native._last == python._last
