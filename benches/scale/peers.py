"""Raw pyzmq peers of the scale benchmarks, each its own process (so the proxy is measured, not the GIL):

    python peers.py pub  ENDPOINT bind|connect COUNT RATE     # RATE 0: as fast as possible
    python peers.py sub  ENDPOINT bind|connect COUNT          # prints JSON: received, seconds, cpu, latencies
    python peers.py proxy FRONTEND BACKEND                    # libzmq's bare proxy, nothing of ours

Frames are ``market <json>`` with the send time (CLOCK_MONOTONIC ns, shared by every namespace of one
kernel) so the subscriber measures one-way latency. The publisher waits for a subscription (XPUB)
before sending, and after the last frame keeps the socket open until told to stop (SIGTERM).
"""

from __future__ import annotations

import json
import signal
import sys
import time

import zmq


def _socket(kind: int, endpoint: str, how: str) -> zmq.Socket[bytes]:
    socket: zmq.Socket[bytes] = zmq.Context.instance().socket(kind)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SNDHWM, 0)
    socket.setsockopt(zmq.RCVHWM, 0)
    (socket.bind if how == "bind" else socket.connect)(endpoint)
    return socket


def pub(endpoint: str, how: str, count: int, rate: float, subscribers: int = 1) -> None:
    socket = _socket(zmq.XPUB, endpoint, how)
    socket.setsockopt(zmq.XPUB_VERBOSE, 1)
    for _ in range(subscribers):
        socket.recv()  # a subscription: nothing is sent to nobody
    time.sleep(0.2)  # the other subscribers' subscriptions, replayed once per topic through a proxy
    pad = b"x" * 80  # about the size of a BarUpdate frame
    pause = 1.0 / rate if rate else 0.0
    start = time.monotonic()
    for i in range(count):
        socket.send(b'market {"seq":%d,"source":"bench","t":%d,"p":"%s"}' % (i, time.monotonic_ns(), pad))
        if pause:
            delay = start + (i + 1) * pause - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    signal.sigwait({signal.SIGTERM})


def sub(endpoint: str, how: str, count: int) -> None:
    socket = _socket(zmq.SUB, endpoint, how)
    socket.setsockopt(zmq.SUBSCRIBE, b"market ")
    socket.setsockopt(zmq.RCVTIMEO, 20_000)
    print("subscribed", flush=True)
    latencies = []
    first = socket.recv()
    started = time.monotonic()
    for _ in range(count - 1):
        frame = socket.recv()
        now = time.monotonic_ns()
        t = int(frame[frame.index(b'"t":') + 4 : frame.index(b',"p"')])
        latencies.append(now - t)
    del first
    seconds = time.monotonic() - started
    # the CPU this subscriber spent: on a small machine, the evidence of what limits a fan-out
    cpu = time.process_time()
    print(json.dumps({"received": count, "seconds": seconds, "cpu_seconds": cpu, "latencies_ns": latencies}))


def proxy(frontend: str, backend: str) -> None:
    """libzmq's own ``zmq_proxy`` between a bound XSUB and a bound XPUB, as a user would start it by hand:
    the floor ``bus-proxy`` is measured against (same libzmq, no capture tap, no statistics, no health)."""
    front, back = _socket(zmq.XSUB, frontend, "bind"), _socket(zmq.XPUB, backend, "bind")
    print("ready", flush=True)
    zmq.proxy(front, back)  # runs in libzmq, without the GIL, until the process is killed


if __name__ == "__main__":
    if sys.argv[1] == "proxy":
        proxy(sys.argv[2], sys.argv[3])
        sys.exit(0)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    role, endpoint, how, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if role == "pub":
        pub(endpoint, how, count, float(sys.argv[5]), int(sys.argv[6]) if len(sys.argv) > 6 else 1)
    else:
        sub(endpoint, how, count)
