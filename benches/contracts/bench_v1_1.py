"""What contract v1.1 costs the hot paths, before and after in one run (target: at most 5% slower).

- decode: the v1.0 codec (loaded from git, commit 4e233f7) and this v1.1 codec decoding the same bar as the
  v1.0 bus wrote it, and v1.1 decoding that bar with ``sent_at_us`` added (what a v1.1 subscriber reads).
- publish: the v1.0 bus publisher's frame (encode, splice ``seq``/``source``) next to the v1.1 one (encode,
  splice ``seq``/``sent_at_us``/``source`` with a fresh clock reading), with and without the ZeroMQ send
  of a real PUB socket (inproc, nobody subscribed: libzmq drops the frame, as a publisher's send costs).

The ratios are printed at the end of the run (conftest.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tradebridge.contracts as v1_1
import zmq

from benches.contracts.conftest import V1_1_MEDIANS
from tests.contracts.frozen_v1_0 import load

BAR_V1_0 = (
    b'{"type":"BarUpdate","symbol":"AAPL","open":150.0,"high":152.5,"low":149.5,"close":151.0,'
    b'"volume":1000000.0,"timestamp":1729530000123,"schema_version":"1.0","seq":123456,"source":"py-1-ab12cd34"}'
)
BAR_V1_1 = BAR_V1_0[:-1] + b',"sent_at_us":1729530000123456}'
SOURCE = "py-1-ab12cd34"


@pytest.fixture(scope="module")
def v1_0(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return load(Path(tmp_path_factory.mktemp("frozen")))


@pytest.fixture(scope="module")
def socket() -> Iterator[zmq.Socket[bytes]]:
    context = zmq.Context()
    publisher = context.socket(zmq.PUB)
    publisher.bind("inproc://bench-v1-1")
    yield publisher
    publisher.close(linger=0)
    context.term()


def _decoders(v1_0: Any) -> dict[str, Callable[[], Any]]:
    old = v1_0.Decoder(v1_0.MarketMessage).decode
    new = v1_1.Decoder(v1_1.MarketMessage).decode
    return {
        "v1.0 codec, v1.0 bar": lambda: old(BAR_V1_0),
        "v1.1 codec, v1.0 bar": lambda: new(BAR_V1_0),
        "v1.1 codec, v1.1 bar": lambda: new(BAR_V1_1),
    }


def _framers(v1_0: Any, send: Callable[[bytes], Any] | None) -> dict[str, Callable[[], Any]]:
    old_bar = v1_0.decode(BAR_V1_0[: BAR_V1_0.index(b',"seq"')] + b"}", type=v1_0.BarUpdate)
    new_bar = v1_1.decode(BAR_V1_0[: BAR_V1_0.index(b',"seq"')] + b"}", type=v1_1.BarUpdate)
    old_encode, new_encode = v1_0.Encoder().encode, v1_1.Encoder().encode
    suffix = v1_1.source_suffix(SOURCE)
    # Inlined as a publisher should: now_us() is time.time_ns() // 1000 plus a call.
    time_ns, layout = time.time_ns, v1_1.ENVELOPE_FORMAT
    deliver = send or (lambda frame: frame)

    def before() -> Any:  # the bus publisher's frame() today (sdk/tradebridge/bus/_publisher.py)
        return deliver(b'%s%s,"seq":%d%s' % (b"market ", old_encode(old_bar)[:-1], 41, suffix))

    def after() -> Any:
        return deliver(layout % (b"market ", new_encode(new_bar)[:-1], 41, time_ns() // 1000, suffix))

    return {"v1.0 frame (seq, source)": before, "v1.1 frame (+ sent_at_us)": after}


GROUPS = {
    "bar decode": ["v1.0 codec, v1.0 bar", "v1.1 codec, v1.0 bar", "v1.1 codec, v1.1 bar"],
    "publish frame": ["v1.0 frame (seq, source)", "v1.1 frame (+ sent_at_us)"],
    "publish frame + send": ["v1.0 frame (seq, source)", "v1.1 frame (+ sent_at_us)"],
}
PARAMS = [(group, case) for group, cases in GROUPS.items() for case in cases]


@pytest.mark.parametrize(("group", "case"), PARAMS, ids=[f"{g}-{c}".replace(" ", "_") for g, c in PARAMS])
def test_v1_1_overhead(benchmark: Any, v1_0: Any, socket: zmq.Socket[bytes], group: str, case: str) -> None:
    if group == "bar decode":
        run = _decoders(v1_0)[case]
    else:
        run = _framers(v1_0, socket.send if group.endswith("send") else None)[case]
    run()  # both sides must work before they are timed
    benchmark.group = f"v1.1 {group}"
    benchmark(run)
    V1_1_MEDIANS[(group, case)] = benchmark.stats.stats.median
