"""One run of the shared-publisher proof, in its own process (a libzmq crash must fail a test, not end
pytest): 8 threads publish 10,000 messages each through one sync publisher to a real subscriber.

``python -m tests.bus.shared_publisher <seed>`` prints one JSON line: what the subscriber got. The seed
picks each thread's mix of ``publish`` and ``publish_many`` batches and its pauses.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from typing import Any

from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.contracts import Heartbeat

THREADS = 8
PER_THREAD = 10_000


def _publish(pub: ZMQPublisher, thread: int, seed: int, start: threading.Barrier, errors: list[str]) -> None:
    rng = random.Random(seed * 1000 + thread)
    component = f"thread-{thread}"
    try:
        start.wait(timeout=10)
        i = 0
        while i < PER_THREAD:
            batch = min(rng.choice([1, 1, 1, 7, 64, 300]), PER_THREAD - i)
            if batch == 1:
                pub.publish(Heartbeat(component=component, timestamp=i))
            else:
                pub.publish_many(Heartbeat(component=component, timestamp=i + k) for k in range(batch))
            i += batch
            if rng.random() < 0.01:
                time.sleep(rng.random() / 1000)  # let the others overtake
    except BaseException as exc:
        errors.append(f"{component}: {exc!r}")


def run(seed: int) -> dict[str, Any]:
    total = THREADS * PER_THREAD
    errors: list[str] = []
    with ZMQPublisher("tcp://127.0.0.1:*") as pub, ZMQSubscriber(pub.endpoint) as sub:
        sub.connect(["system"])
        pub.wait_for_subscribers(1, timeout=10)
        start = threading.Barrier(THREADS)
        threads = [
            threading.Thread(target=_publish, args=(pub, t, seed, start, errors)) for t in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        seqs: list[int] = []
        in_order = True
        last_of: dict[str, int] = {}
        for _, message in sub.receive(idle_timeout=5):
            seqs.append(message.seq)
            previous = last_of.get(message.component, -1)
            in_order = in_order and message.timestamp == previous + 1
            last_of[message.component] = message.timestamp
            if len(seqs) == total:
                break
        for thread in threads:
            thread.join(timeout=30)
        stats = sub.stats
    return {
        "seed": seed,
        "received": len(seqs),
        "seq_intact": seqs == list(range(total)),
        "each_thread_in_order": in_order and all(v == PER_THREAD - 1 for v in last_of.values()),
        "threads": len(last_of),
        "gaps": stats.gaps,
        "dropped": stats.dropped,
        "restarts": stats.restarts,
        "published": pub.published,
        "errors": errors,
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]))), flush=True)
