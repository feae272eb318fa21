"""Baseline peers in raw pyzmq, run as separate processes by the bus benchmarks.

    python raw_peers.py count ENDPOINT N      # SUB: receive N frames, print the seconds it took
    python raw_peers.py drain ENDPOINT        # SUB bound on ENDPOINT: receive everything, for ever
    python raw_peers.py echo FROM TO          # SUB on FROM, PUB bound on TO: echo every frame as is

No SDK code runs here: these are what a hand-written pyzmq service would do.
"""

from __future__ import annotations

import sys
import time

import zmq


def count(endpoint: str, n: int) -> None:
    context = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.RCVHWM, 0)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    socket.connect(endpoint)
    recv = socket.recv
    recv()
    started = time.perf_counter()
    for _ in range(n - 1):
        recv()
    print(time.perf_counter() - started, flush=True)
    socket.close()
    context.term()


def drain(endpoint: str) -> None:
    """A bound sink the publish benchmarks connect to (so their frames really cross a socket)."""
    context = zmq.Context()
    socket = context.socket(zmq.SUB)
    socket.setsockopt(zmq.RCVHWM, 0)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SUBSCRIBE, b"")
    socket.bind(endpoint)
    recv = socket.recv
    while True:
        recv()


def echo(source: str, target: str) -> None:
    context = zmq.Context()
    out = context.socket(zmq.XPUB)
    out.setsockopt(zmq.LINGER, 0)
    out.bind(target)
    out.recv()  # the client subscribed: only then subscribe upstream, as bus-peer echo does
    inbound = context.socket(zmq.SUB)
    inbound.setsockopt(zmq.LINGER, 0)
    inbound.setsockopt(zmq.SUBSCRIBE, b"")
    inbound.connect(source)
    recv, send = inbound.recv, out.send
    try:
        while True:
            send(recv())
    except KeyboardInterrupt:
        pass
    finally:
        inbound.close()
        out.close()
        context.term()


if __name__ == "__main__":
    if sys.argv[1] == "count":
        count(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "drain":
        drain(sys.argv[2])
    else:
        echo(sys.argv[2], sys.argv[3])
