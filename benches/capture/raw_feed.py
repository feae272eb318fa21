"""A raw pyzmq publisher for the capture benchmark: binds, waits for one subscription, sends the payloads of a
capture (read into memory first) as fast as the socket takes them, waits until they are handed over, exits.

    python raw_feed.py ENDPOINT CAPTURE

It prints ``ready`` once the frames are in memory and the socket is bound, so the timed part is the sending
only. No SDK code: this is the fastest publisher pyzmq allows, so a subscriber timed against it shows its own
cost, not the publisher's.
"""

from __future__ import annotations

import sys

import pyarrow.parquet as pq
import zmq


def main(endpoint: str, capture: str) -> None:
    frames = pq.read_table(capture, columns=["payload"]).column("payload").to_pylist()
    context = zmq.Context()
    socket = context.socket(zmq.XPUB)
    socket.setsockopt(zmq.SNDHWM, 0)  # never drop: the subscriber's queue is unlimited too
    socket.bind(endpoint)
    print("ready", flush=True)
    socket.recv()  # the subscription
    send = socket.send
    for frame in frames:
        send(frame)
    socket.close(linger=-1)
    context.term()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
