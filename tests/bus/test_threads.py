"""``publisher.stats`` read from another thread (a health server's) while the owner publishes hard.

A ZeroMQ socket belongs to one thread: a snapshot taken elsewhere must read counters only, never the
socket. The socket here records every thread that receives on it, so the test fails if one does.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

import zmq
from tradebridge.bus import BusOptions
from tradebridge.bus.stats import PublisherStats
from tradebridge.bus.sync import ZMQPublisher, ZMQSubscriber
from tradebridge.health import HealthCheck, HealthServer
from tradebridge.testing import free_port

from tests.bus.samples import bar, signal

MESSAGES = 60_000


class _RecordingSocket(zmq.Socket[bytes]):
    """A real socket that remembers which threads called ``recv`` on it."""

    receiving_threads: set[int]

    def recv(self, *args: Any, **kwargs: Any) -> Any:
        self.receiving_threads.add(threading.get_ident())
        return super().recv(*args, **kwargs)


class _RecordingContext(zmq.Context[_RecordingSocket]):
    _socket_class = _RecordingSocket


def _run_with_scraper(pub: ZMQPublisher, scrape: Any) -> tuple[list[PublisherStats], list[BaseException]]:
    snapshots: list[PublisherStats] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def scraper() -> None:
        try:
            while not done.is_set():
                snapshots.append(scrape())
                # A scraper spinning on the GIL would convoy the publisher (each send that releases the
                # GIL waits out a whole switch interval): real scrapers pause, and so does this one.
                time.sleep(0.0002)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=scraper)
    thread.start()
    deadline = time.monotonic() + 30
    try:
        for i in range(MESSAGES // 1000):
            pub.publish_many(bar(j) for j in range(1000))
            pub.publish_signal(signal(i))  # a second topic appears while the scraper reads
            # One scrape at least between chunks: on a loaded machine the publisher can hold the GIL
            # through many chunks and the scraper would read only at the start and the end.
            taken = len(snapshots)
            while len(snapshots) == taken and not errors and time.monotonic() < deadline:
                time.sleep(0.0005)
    finally:
        done.set()
        thread.join(10)
    return snapshots, errors


def test_stats_from_another_thread_never_touch_the_socket_and_stay_consistent() -> None:
    context = _RecordingContext()
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    try:
        with ZMQSubscriber(endpoint) as sub, ZMQPublisher(endpoint, context=context) as pub:
            socket = pub._core.socket
            assert isinstance(socket, _RecordingSocket)
            socket.receiving_threads = set()
            sub.connect(["market", "signal"])
            while pub.subscriber_count() < 2:
                sub.receive_one(timeout=0.02)
            snapshots, errors = _run_with_scraper(pub, lambda: pub.stats)
            assert socket.receiving_threads == {threading.get_ident()}
            final = pub.stats
    finally:
        context.term()
    assert not errors, errors
    assert len(snapshots) > 10, "the scraper hardly ran"
    published = [s.published for s in snapshots]
    assert published == sorted(published)
    for s in snapshots:
        # the per-topic numbers are taken after the total, and a frame is numbered before it is counted
        assert sum(s.topics.values()) >= s.published
        assert s.subscriptions == 2 and s.dropped == 0
    total = MESSAGES + MESSAGES // 1000
    assert final.published == total
    assert final.topics == {"market": MESSAGES, "signal": MESSAGES // 1000}


def test_a_health_server_thread_scraping_the_publisher_while_it_publishes() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    # no subscriber, no start-up hold: every publish goes straight to the socket
    with ZMQPublisher(endpoint, options=BusOptions(startup_grace=0)) as pub:
        health = HealthCheck.healthy("bus-test").track("bus", pub)
        server = HealthServer(health, 0, host="127.0.0.1")
        server.start_in_thread()
        try:

            def scrape() -> PublisherStats:
                with urllib.request.urlopen(f"{server.url}/health", timeout=5) as response:
                    body = json.loads(response.read())
                return PublisherStats(int(body["metrics"]["bus_published"]), 0, {})

            snapshots, errors = _run_with_scraper(pub, scrape)
        finally:
            server.close()
    assert not errors, errors
    assert snapshots
    published = [s.published for s in snapshots]
    assert published == sorted(published) and published[-1] <= MESSAGES + MESSAGES // 1000
