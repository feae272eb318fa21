"""The hot native entry points (``publish``, ``Decoder.decode``, a message's ``__post_init__``) are builtin
functions entered without pyo3's per-call bookkeeping (crates/tradebridge-py/src/one_arg.rs). A reference
they dropped the wrong way would be parked in pyo3's pool and keep its object alive until pyo3 is entered
again; these tests count the references of every object those paths touch before and after thousands of
calls, with nothing else entering pyo3 in between."""

from __future__ import annotations

import sys
from typing import Any

import zmq
from tradebridge.bus import BusOptions
from tradebridge.bus.sync import ZMQPublisher
from tradebridge.contracts import CURRENT_VERSION, BarUpdate, Decoder, Signal, encode
from tradebridge.testing import free_port

from tests.bus.samples import bar, signal

CALLS = 5_000


def counts(*objects: Any) -> list[int]:
    return [sys.getrefcount(o) for o in objects]


def test_publishing_leaves_no_reference_behind() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    context: zmq.Context[Any] = zmq.Context()
    drain = context.socket(zmq.SUB)
    drain.setsockopt(zmq.SUBSCRIBE, b"")
    drain.setsockopt(zmq.LINGER, 0)
    try:
        with ZMQPublisher(endpoint, options=BusOptions(send_hwm=0)) as pub:
            drain.connect(endpoint)
            pub.wait_for_subscribers(1, timeout=10)
            message = bar(1)
            for _ in range(2):  # routes the class (the Python path), then keeps the route (the native one)
                pub.publish(message)
            assert type(pub.publish).__name__ == "builtin_function_or_method"
            prefix, counter = pub._core._routes[BarUpdate]
            watched = (message, BarUpdate, prefix, counter, pub._core.source)
            before = counts(*watched)
            for _ in range(CALLS):
                pub.publish(message)
            assert counts(*watched) == before
            assert counter[0] == CALLS + 2
    finally:
        drain.close()
        context.term()


def test_decoding_and_checking_leave_no_reference_behind() -> None:
    payloads = {BarUpdate: encode(bar(2)), Signal: encode(signal(3, features=12))}
    for kind, payload in payloads.items():
        decode: Any = Decoder(kind).decode
        assert type(decode).__name__ == "builtin_function_or_method"
        decode(payload)  # the class's slot offsets, looked up once
        check = next(vars(c)["__post_init__"] for c in kind.__mro__ if "__post_init__" in vars(c))
        watched = (payload, kind, CURRENT_VERSION, check, decode)
        before = counts(*watched)
        for _ in range(CALLS):
            decode(payload)
        assert counts(*watched) == before, kind
