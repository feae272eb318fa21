"""What the v1.1 envelope stamp ``sent_at_us`` costs the bus, before (the v1.0 bus of git 4e233f7, run
next to it by ``conformance/transport/frozen_bus.py``) and after, in one run (target: at most 5% slower,
i.e. a ratio before/after of at least 0.95):

- Python publish: ``publish`` and ``publish_many`` of 20,000 bars to a real subscriber process;
- Python decode: a subscriber's ``handle`` of 20,000 frames as each version's publisher writes them
  (after: with ``sent_at_us``, so each also goes into the transit histogram);
- Rust: ``bus-peer decode-bench`` and ``bus-peer publish`` (no subscriber: frame and send) of v1.0 and v1.1.

The "after" decode includes the v1.1 codec's own cost for a longer document; the line "v1.1 handle,
v1.0 frames" separates it from what the bus adds.
"""

from __future__ import annotations

import importlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tradebridge.bus._publisher import PublisherCore
from tradebridge.bus._subscriber import SubscriberCore
from tradebridge.bus.sync import ZMQPublisher
from tradebridge.testing import free_port, rust_binary

from benches.bus.conftest import EXTRA, MEDIANS, RATIOS
from conformance.transport.frozen_bus import load_bus, rust_bus_peer
from tests.bus.samples import bar

RAW_PEERS = Path(__file__).with_name("raw_peers.py")
PER_ROUND = 20_000
BEFORE, AFTER = "v1.0 (git 4e233f7)", "v1.1 (stamped)"
for group in ("stamp: publish", "stamp: publish_many", "stamp: decode"):
    RATIOS[group] = (AFTER, BEFORE, PER_ROUND, 0.95)


@pytest.fixture(scope="module")
def v1_0(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    bus = load_bus(tmp_path_factory.mktemp("v1_0"))
    return importlib.import_module(f"{bus.__name__}.sync")


@pytest.fixture(scope="module")
def drain() -> Iterator[str]:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    process = subprocess.Popen([sys.executable, str(RAW_PEERS), "drain", endpoint])
    yield endpoint
    process.kill()
    process.communicate()


def _messages(v1_0: ModuleType) -> dict[str, list[Any]]:
    old = importlib.import_module(v1_0.__name__.replace(".bus.sync", ".contracts"))
    new = [bar(i) for i in range(PER_ROUND)]
    fields = [f for f in old.BarUpdate.__struct_fields__ if f != "schema_version"]
    return {BEFORE: [old.BarUpdate(**{f: getattr(m, f) for f in fields}) for m in new], AFTER: new}


def _interleaved(benchmark: Any, group: str, runs: dict[str, Callable[[], None]]) -> None:
    """Time each candidate once per round, alternating, so the shared machine's noise hits all alike;
    the medians of the rounds go to the ratios printed at the end."""
    times: dict[str, list[float]] = {name: [] for name in runs}

    def one_round() -> None:
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - started)

    benchmark.group = group
    benchmark.pedantic(one_round, rounds=9, warmup_rounds=1)
    for name, measured in times.items():
        MEDIANS[(group, name)] = statistics.median(measured[1:])  # the warm-up round left out


@pytest.mark.parametrize("many", [False, True], ids=["publish", "publish_many"])
def test_publish(benchmark: Any, v1_0: ModuleType, drain: str, many: bool) -> None:
    messages = _messages(v1_0)
    with v1_0.ZMQPublisher(drain, bind=False) as before, ZMQPublisher(drain, bind=False) as after:
        runs: dict[str, Callable[[], None]] = {}
        for name, publisher in ((BEFORE, before), (AFTER, after)):
            publisher.wait_for_subscribers(1, timeout=10)
            sent, publish, publish_many = messages[name], publisher.publish, publisher.publish_many

            def one_by_one(sent: list[Any] = sent, publish: Callable[[Any], int] = publish) -> None:
                for message in sent:
                    publish(message)

            def at_once(
                sent: list[Any] = sent, publish_many: Callable[[list[Any]], int] = publish_many
            ) -> None:
                publish_many(sent)

            runs[name] = at_once if many else one_by_one
        _interleaved(benchmark, "stamp: publish_many" if many else "stamp: publish", runs)


def test_decode(benchmark: Any, v1_0: ModuleType) -> None:
    old_core = importlib.import_module(v1_0.__name__.replace(".sync", "._core"))
    messages = _messages(v1_0)
    old_publisher = old_core.PublisherCore("tcp://127.0.0.1:*", bind=True, options=None, source="b")
    new_publisher = PublisherCore("tcp://127.0.0.1:*", bind=True, options=None, source="b")
    old_frames = [old_publisher.frame(m) for m in messages[BEFORE]]
    new_frames = [new_publisher.frame(m) for m in messages[AFTER]]
    cases = {
        BEFORE: (old_core.SubscriberCore, old_frames),
        AFTER: (SubscriberCore, new_frames),
        "v1.1 handle, v1.0 frames (no stamp)": (SubscriberCore, old_frames),
    }
    runs: dict[str, Callable[[], None]] = {}
    subscribers: dict[str, Any] = {}
    for name, (core, frames) in cases.items():
        subscriber = subscribers[name] = core("tcp://127.0.0.1:*", bind=False, options=None, strict=True)

        def run(handle: Callable[[bytes], Any] = subscriber.handle, frames: list[bytes] = frames) -> None:
            for frame in frames:
                handle(frame)

        runs[name] = run
    _interleaved(benchmark, "stamp: decode", runs)
    assert subscribers[AFTER].stats.transit.count == 10 * PER_ROUND  # every frame of every round


def test_rust_before_and_after(benchmark: Any) -> None:
    binaries = {BEFORE: rust_bus_peer(), AFTER: rust_binary("bus-peer")}
    commands = {
        "decode": ["decode-bench", "--type", "bar", "--count", "1000000"],
        "publish": ["publish", "--endpoint", f"tcp://127.0.0.1:{free_port()}", "--count", "1000000"],
    }
    rates: dict[tuple[str, str], list[float]] = {}

    def run() -> None:
        for name, args in commands.items():
            for version, binary in binaries.items():  # interleaved: the machine's noise hits both
                out = subprocess.run([str(binary), *args], capture_output=True, check=True, timeout=120)
                summary = json.loads(out.stdout.decode().splitlines()[-1])
                rates.setdefault((name, version), []).append(summary["per_second"])

    benchmark.group = "stamp: rust"
    benchmark.pedantic(run, rounds=5)
    for name in commands:
        before, after = (statistics.median(rates[(name, v)]) for v in (BEFORE, AFTER))
        ratio = after / before
        verdict = "met" if ratio >= 0.95 else "MISSED"
        EXTRA[f"stamp: rust {name}"] = (
            f"{before:,.0f} -> {after:,.0f} BarUpdate/s, after/before {ratio:.2f} (target >= 0.95: {verdict})"
        )
