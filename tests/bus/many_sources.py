"""Fifty live publishers interleaved on one topic into one subscriber (N strategies -> one engine), with one
real gap and one real restart among them: the scenario both subscribers (Python here, Rust in
``conformance/transport``) must count exactly, inventing nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tradebridge.bus import BusOptions
from tradebridge.bus.sync import ZMQPublisher

from tests.bus.samples import signal

SOURCES = 50
ROUNDS = 40
GAP_SOURCE, GAP_AT, GAP_SIZE = 7, 10, 3  # strategy-07 frames 3 messages at round 10 that never leave
RESTART_SOURCE, RESTART_AT = 13, 20  # strategy-13 restarts (same id) after round 20, numbering from 0 again


@dataclass(frozen=True)
class Expected:
    received: int
    gaps: int = 1
    dropped: int = GAP_SIZE
    restarts: int = 1
    sources: int = SOURCES


def source_name(i: int) -> str:
    return f"strategy-{i:02d}"


def drive(endpoint: str, service: Callable[[], object], settle: Callable[[int], object]) -> Expected:
    """Publish the scenario to a subscriber bound at ``endpoint``; ``service`` lets it read its socket
    while publishers wait for its subscription (a subscriber in this thread sends it from its calls).

    ``settle(sent)`` returns once the subscriber has read the ``sent`` messages so far: it runs after the
    restarting publisher closed, because a subscriber fair-queues between connections, so the old
    instance's last messages still in flight would otherwise interleave with the new instance's first
    (one id live twice: restarts on every switch, which is what these counters must say then).
    """
    options = BusOptions(startup_grace=0, linger_ms=5_000)

    def connect(i: int) -> ZMQPublisher:
        pub = ZMQPublisher(endpoint, bind=False, options=options, source=source_name(i))
        pub.connect()
        while pub.subscriber_count() < 1:
            service()
        return pub

    publishers = [connect(i) for i in range(SOURCES)]
    sent = 0
    try:
        for round_ in range(ROUNDS):
            if round_ == RESTART_AT:
                publishers[RESTART_SOURCE].close()
                settle(sent)
                publishers[RESTART_SOURCE] = connect(RESTART_SOURCE)
            for i, pub in enumerate(publishers):
                if i == GAP_SOURCE and round_ == GAP_AT:
                    for _ in range(GAP_SIZE):
                        pub._core.frame(signal(round_))  # numbered, never sent: lost on the way
                pub.publish(signal(round_))
                sent += 1
    finally:
        for pub in publishers:
            pub.close()
    return Expected(received=sent)
