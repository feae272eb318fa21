"""Scale figures, one run each, printed at the end (targets from issue 17):

- through ``bus-proxy`` against direct publisher -> subscriber on one host: throughput (target >= 0.7x)
  and added p50 one-way latency (target < 50 us), beside libzmq's bare ``zmq_proxy`` in a process of its
  own (the limit for any proxy built on libzmq);
- across two network namespaces (no netem): p50 and p99, direct and via the proxy (in a third namespace);
- fan-out through the proxy to 8 subscribers: total delivered msg/s against one subscriber (target >= 4x);
- the NATS bridge: msg/s into JetStream from one publisher (target >= 50,000) and p99 end to end (bus
  publish -> stored -> a live JetStream consumer).

Peers are raw pyzmq processes (peers.py) so the figures are the transport's, not the SDK's.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tradebridge.bridges import JetStreamConfig, ensure_streams, replay, stream_name
from tradebridge.bridges.jetstream import connect
from tradebridge.testing import Service, free_port, rust_binary

from benches.scale.conftest import FIGURES

PEERS = str(Path(__file__).with_name("peers.py"))
THROUGHPUT = 200_000

LATENCY_COUNT, LATENCY_RATE = 5_000, 5_000.0


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1_000


@contextmanager
def proxy_service(
    prefix: list[str] | None = None, host: str = "127.0.0.1"
) -> Iterator[tuple[str, str, Service]]:
    front, back = free_port(), free_port()
    argv = [*(prefix or []), str(rust_binary("bus-proxy")), "--frontend", f"tcp://{host}:{front}"]
    argv += ["--backend", f"tcp://{host}:{back}", "--hwm", "0"]
    with Service("bus-proxy", argv, ready_line=r"bus-proxy ready", grace=2) as service:
        service.wait_ready(10)
        yield f"tcp://{host}:{front}", f"tcp://{host}:{back}", service


@contextmanager
def bare_proxy() -> Iterator[tuple[str, str]]:
    """libzmq's own proxy in a process of its own (``peers.py proxy``): frontend and backend endpoints."""
    front, back = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    argv = [sys.executable, PEERS, "proxy", front, back]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
            yield front, back
        finally:
            process.kill()


@contextmanager
def proxy(prefix: list[str] | None = None, host: str = "127.0.0.1") -> Iterator[tuple[str, str]]:
    with proxy_service(prefix, host) as (front, back, _):
        yield front, back


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process so far (from /proc), 0 when unknown."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: CPU seconds and voluntary context switches, by thread
Usage = dict[str, tuple[float, int]]


def thread_usage(pid: int | None) -> Usage:
    """CPU seconds and voluntary context switches (each one a sleep, then a wake-up) per thread, by
    ``name/tid``: where a process spends its time and how often it waits for another thread."""
    usage: Usage = {}
    if pid is None:
        return usage
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat, status = (task / "stat").read_text(), (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        switches = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("voluntary"))
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        usage[f"{name}/{task.name}"] = (cpu, switches)
    return usage


def usage_since(before: Usage, after: Usage) -> Usage:
    """Per-thread CPU and wake-ups between two ``thread_usage`` readings, by thread role (tid dropped)."""
    delta: Usage = {}
    for key, (cpu, switches) in after.items():
        cpu0, switches0 = before.get(key, (0.0, 0))
        role = key.rsplit("/", 1)[0]
        old = delta.get(role, (0.0, 0))
        delta[role] = (old[0] + cpu - cpu0, old[1] + switches - switches0)
    return delta


def run(
    pub: tuple[str, str], subs: list[tuple[str, str]], count: int, rate: float,
    pub_prefix: list[str] | None = None, sub_prefix: list[str] | None = None, rust_subs: bool = False,
    publisher_usage: Usage | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Subscribers first (each says when subscribed), then the publisher; the subscribers' reports.
    ``rust_subs``: the subscribers are ``count_peer`` (a bare Rust SUB that only counts), not Python.
    ``publisher_usage``, when given, receives the publisher's per-thread CPU and wake-ups."""
    readers = []
    try:
        for endpoint, how in subs:
            if rust_subs:
                assert how == "connect"
                argv = [str(rust_binary("examples/count_peer")), endpoint, str(count)]
            else:
                argv = [sys.executable, PEERS, "sub", endpoint, how, str(count)]
            process = subprocess.Popen([*(sub_prefix or []), *argv], stdout=subprocess.PIPE, text=True)
            readers.append(process)
            assert process.stdout is not None and process.stdout.readline().strip() == "subscribed"
        publisher = subprocess.Popen(
            [*(pub_prefix or []), sys.executable, PEERS, "pub", pub[0], pub[1], str(count), str(rate),
             str(len(subs) if pub[1] == "bind" else 1)],
        )  # fmt: skip
        try:
            reports = [json.loads(r.communicate(timeout=120)[0]) for r in readers]
            if publisher_usage is not None:
                publisher_usage.update(usage_since({}, thread_usage(publisher.pid)))
            return reports
        finally:
            publisher.kill()
            publisher.wait()
    finally:
        for reader in readers:
            reader.kill()
            reader.wait()


def _rate(report: dict[str, Any]) -> float:
    return float(report["received"] / report["seconds"])


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _cpu_line(delta: Usage, messages: int) -> str:
    """``thread: CPU us and wake-ups per message`` for the threads that did any work."""
    busy = sorted(delta.items(), key=lambda item: -item[1][0])
    return ", ".join(
        f"{role} {cpu / messages * 1e6:.2f} us {wakes / messages:.2f} wk" for role, (cpu, wakes) in busy
        if cpu > 0 or wakes > 0
    )  # fmt: skip


#: one-host latency: paired rounds of ROUND_COUNT frames at LATENCY_RATE, the first WARMUP of each dropped
LATENCY_ROUNDS, ROUND_COUNT, WARMUP = 5, 2_000, 200
THROUGHPUT_ROUNDS = 3


def test_proxy_throughput_and_latency_on_one_host(benchmark: Any) -> None:
    """Direct publisher -> subscriber against the same pair through ``bus-proxy``, in interleaved rounds
    (direct and proxied alternate, which goes first alternates too, so a change of the machine's load
    hits both), each case its own fresh processes, same rate, same frames, same number of samples; the
    figures are medians over the rounds. The proxy's CPU and wake-ups per message, per thread, show
    where its added latency goes: each wake-up is a thread handing a frame to the next (eventfd/futex)."""

    def measure() -> None:
        rates: dict[str, list[float]] = {"direct": [], "via": []}
        with proxy_service() as (front, back, service):
            before = cpu_seconds(service.pid)
            for i in range(THROUGHPUT_ROUNDS):
                for case in ("direct", "via") if i % 2 == 0 else ("via", "direct"):
                    port = free_port()
                    pub, sub = (
                        ((f"tcp://127.0.0.1:{port}", "bind"), (f"tcp://127.0.0.1:{port}", "connect"))
                        if case == "direct"
                        else ((front, "connect"), (back, "connect"))
                    )
                    rates[case].append(_rate(run(pub, [sub], THROUGHPUT, 0)[0]))
            per_message = (cpu_seconds(service.pid) - before) / (THROUGHPUT * THROUGHPUT_ROUNDS) * 1e6
        direct, via = statistics.median(rates["direct"]), statistics.median(rates["via"])
        ratios = [v / d for v, d in zip(rates["via"], rates["direct"], strict=True)]
        ratio = statistics.median(ratios)
        FIGURES["throughput direct"] = f"{direct:>12,.0f} msg/s (median of {THROUGHPUT_ROUNDS} rounds)"
        FIGURES["throughput via proxy"] = (
            f"{via:>12,.0f} msg/s  ratio {ratio:.2f} (per round {', '.join(f'{r:.2f}' for r in ratios)}; "
            f"target >= 0.7: {'met' if ratio >= 0.7 else 'MISSED'}); proxy CPU {per_message:.2f} us/msg, "
            f"{_load()}"
        )

        cases = ("direct", "via", "bare")
        lat: dict[str, list[list[int]]] = {case: [] for case in cases}
        with proxy_service() as (front, back, service), bare_proxy() as (bare_front, bare_back):
            usage = {"start": thread_usage(service.pid)}
            for i in range(LATENCY_ROUNDS):
                for case in cases[i % 3 :] + cases[: i % 3]:  # who goes first rotates
                    point = f"tcp://127.0.0.1:{free_port()}"
                    pub, sub = {
                        "direct": ((point, "bind"), (point, "connect")),
                        "via": ((front, "connect"), (back, "connect")),
                        "bare": ((bare_front, "connect"), (bare_back, "connect")),
                    }[case]
                    report = run(pub, [sub], ROUND_COUNT, LATENCY_RATE)[0]
                    lat[case].append(report["latencies_ns"][WARMUP:])
            proxied = usage_since(usage["start"], thread_usage(service.pid))
        p50 = {case: [_percentile(r, 0.5) for r in rounds] for case, rounds in lat.items()}
        p99 = {case: [_percentile(r, 0.99) for r in rounds] for case, rounds in lat.items()}
        # per round, what each proxy adds to the direct pair's p50 of the same round
        added = {
            case: [v - d for v, d in zip(p50[case], p50["direct"], strict=True)] for case in ("via", "bare")
        }
        median_added, bare_added = statistics.median(added["via"]), statistics.median(added["bare"])
        samples = f"{LATENCY_ROUNDS} rounds x {ROUND_COUNT - WARMUP - 1} samples at {LATENCY_RATE:,.0f}/s"
        mid = {case: (statistics.median(p50[case]), statistics.median(p99[case])) for case in lat}
        per_round = ", ".join(f"{a:.0f}" for a in added["via"])
        FIGURES["latency one host direct"] = (
            f"p50 {mid['direct'][0]:8.1f} us  p99 {mid['direct'][1]:8.1f} us  (medians of {samples})"
        )
        FIGURES["latency one host via proxy"] = (
            f"p50 {mid['via'][0]:8.1f} us  p99 {mid['via'][1]:8.1f} us  added p50 {median_added:.1f} us "
            f"(per round {per_round}; target < 50: {'met' if median_added < 50 else 'MISSED'}), {_load()}"
        )
        FIGURES["latency one host, bare zmq_proxy"] = (
            f"p50 {mid['bare'][0]:8.1f} us  p99 {mid['bare'][1]:8.1f} us  added p50 {bare_added:.1f} us "
            f"(the limit: libzmq's proxy alone, no tap, statistics or health; bus-proxy - bare = "
            f"{median_added - bare_added:+.1f} us)"
        )
        # libzmq's I/O thread and the proxy thread both carry the process's name: "bus-proxy" is the two
        FIGURES["proxy per message at 5k/s"] = _cpu_line(proxied, LATENCY_ROUNDS * ROUND_COUNT) + (
            " (CPU, wake-ups per message; bus-proxy = libzmq I/O + proxy threads)"
        )

    benchmark.pedantic(measure, rounds=1, iterations=1)


#: fan-out: rounds of 1 and 8 subscribers (2 and 4 in the first), FAN_OUT_COUNT frames each
FAN_OUT_ROUNDS, FAN_OUT_COUNT = 3, 100_000


def _fan_out(
    back: str, front: str, n: int, count: int, rust_subs: bool,
    publisher_usage: Usage | None = None,
) -> tuple[float, float, float]:  # fmt: skip
    """``n`` subscribers of one publisher through the proxy: total delivered msg/s (every subscriber's
    count over the slowest one's time), the wall time, and the subscribers' CPU-seconds. A subscriber that
    lost, repeated or reordered a frame fails the benchmark: the total counts only complete deliveries."""
    reports = run((front, "connect"), [(back, "connect")] * n, count, 0, rust_subs=rust_subs,
                  publisher_usage=publisher_usage)  # fmt: skip
    for report in reports:
        lost = count - report["received"] + report.get("gaps", 0) + report.get("first_seq", 0)
        assert lost == 0 and report.get("out_of_order", 0) == 0, f"fan-out to {n} lost frames: {report}"
    wall = max(r["seconds"] for r in reports)
    return sum(r["received"] for r in reports) / wall, wall, sum(r.get("cpu_seconds", 0.0) for r in reports)


def test_fan_out_to_eight_subscribers(benchmark: Any) -> None:
    """Fan-out through the proxy: 1 and 8 subscribers of one saturating publisher, in alternating rounds
    (2 and 4 in the first), the ratio the median of the rounds' ratios.

    Bare Rust subscribers (``count_peer``) measure the fan-out itself, libzmq's XPUB handing each frame to
    every peer; each checks the sequence numbers (every frame once, in order) and reports its CPU. The
    target (>= 4x) is judged on them. What bounds each case is printed: the CPU per published message of
    the publisher, the proxy's threads and the subscribers, and the cores they kept busy together (one
    subscriber: the Python publisher's one thread; eight: the machine's cores). Python subscribers are
    printed beside with the CPU they used.
    """

    def measure() -> None:
        count, cores = FAN_OUT_COUNT, os.cpu_count() or 1
        rust: dict[int, list[tuple[float, float, float]]] = {1: [], 2: [], 4: [], 8: []}
        cost: dict[int, str] = {}
        with proxy_service() as (front, back, service):
            for i in range(FAN_OUT_ROUNDS):
                for n in (1, 2, 4, 8) if i == 0 else (8, 1) if i % 2 else (1, 8):
                    publisher: Usage = {}
                    before = thread_usage(service.pid)
                    rust[n].append(_fan_out(back, front, n, count, True, publisher))
                    proxied = usage_since(before, thread_usage(service.pid))
                    _, wall, subs_cpu = rust[n][-1]
                    pub_cpu = sum(c for c, _ in publisher.values())
                    busy = (pub_cpu + sum(c for c, _ in proxied.values()) + subs_cpu) / wall
                    main = max(publisher.values())[0] / wall  # the publisher's own (Python) thread
                    cost[n] = (
                        f"publisher {pub_cpu / count * 1e6:.2f} us (its main thread {main:.2f} of a core), "
                        f"proxy [{_cpu_line(proxied, count)}], subscribers "
                        f"{subs_cpu / (count * n) * 1e6:.2f} us per delivery; "
                        f"together {busy:.2f} of {cores} cores"
                    )
            python = {n: _fan_out(back, front, n, count // 2, False) for n in (1, 8)}
        ratios = [e[0] / o[0] for e, o in zip(rust[8], rust[1], strict=True)]
        ratio = statistics.median(ratios)
        FIGURES["fan-out, Rust subscribers, msg/s"] = "  ".join(
            f"{n}: {statistics.median(r[0] for r in rust[n]):,.0f}" for n in rust
        )
        FIGURES["fan-out 8 subscribers (total)"] = (
            f"{statistics.median(r[0] for r in rust[8]):>12,.0f} msg/s  ratio {ratio:.2f} to 1 subscriber "
            f"(per round {', '.join(f'{r:.2f}' for r in ratios)}; target >= 4: "
            f"{'met' if ratio >= 4 else 'MISSED'}), {_load()}"
        )
        FIGURES["fan-out 1 cost per published msg"] = cost[1]
        FIGURES["fan-out 8 cost per published msg"] = cost[8]
        py_ratio = python[8][0] / python[1][0]
        busy = python[8][2] / python[8][1]
        FIGURES["fan-out, Python subscribers"] = (
            f"1: {python[1][0]:,.0f}  8: {python[8][0]:,.0f} msg/s  ratio {py_ratio:.2f}; the 8 used "
            f"{busy:.1f} of {cores} cores (a Python subscriber's per-frame CPU bounds them, not the proxy)"
        )

    benchmark.pedantic(measure, rounds=1, iterations=1)


def test_two_namespaces_direct_and_via_proxy(benchmark: Any) -> None:
    from tests.scale.netns import Fabric, NetnsUnavailableError, probe

    try:
        probe()
    except (NetnsUnavailableError, OSError) as exc:
        pytest.skip(f"network namespaces refused here: {exc}")

    def measure() -> None:
        with Fabric(["A", "B", "C"]) as fabric:
            ns = {h: ["ip", "netns", "exec", fabric.namespace(h)] for h in "ABC"}
            a, b = fabric.address("A"), fabric.address("B")
            direct = run((f"tcp://{a}:5600", "bind"), [(f"tcp://{a}:5600", "connect")], LATENCY_COUNT,
                         LATENCY_RATE, pub_prefix=ns["A"], sub_prefix=ns["C"])  # fmt: skip
            with proxy(ns["B"], host=b) as (front, back):
                via = run((front, "connect"), [(back, "connect")], LATENCY_COUNT, LATENCY_RATE,
                          pub_prefix=ns["A"], sub_prefix=ns["C"])  # fmt: skip
        for name, report in (("2 namespaces direct", direct[0]), ("2 namespaces via proxy (3rd ns)", via[0])):
            lat = report["latencies_ns"]
            FIGURES[name] = f"p50 {_percentile(lat, 0.5):8.1f} us  p99 {_percentile(lat, 0.99):8.1f} us"

    benchmark.pedantic(measure, rounds=1, iterations=1)


#: NATS bridge: rounds of NATS_COUNT frames as fast as the publisher goes (each followed by NATS_LIBRARY_COUNT
#: through nats-py's own publish_async, the baseline), then NATS_LATENCY_COUNT at 2k/s
NATS_ROUNDS, NATS_COUNT, NATS_LIBRARY_COUNT = 3, 100_000, 10_000
NATS_LATENCY_COUNT, NATS_LATENCY_RATE = 5_000, 2_000.0


@dataclass
class _NatsRound:
    rate: float  # msg/s stored, from JetStream's own timestamps of the first and the last message
    bridge_us: float  # CPU per message of the bridge's process (all its threads)
    server_us: float  # CPU per message of nats-server
    #: CPU per message of the raw pyzmq publisher, the third process on the cores (from the first message
    #: stored: a slight underestimate)
    publisher_us: float
    load: str
    latencies_ns: list[int]


def test_nats_bridge_into_jetstream(benchmark: Any) -> None:
    """``tradebridge bridge nats in`` as users run it (its own process) between a raw pyzmq publisher and a
    one-node ``nats-server -js`` (file storage, as deployed): msg/s into JetStream from JetStream's store
    timestamps, the CPU per message of the bridge and of the server from /proc, the median of
    ``NATS_ROUNDS``; then end to end at 2,000 msg/s: bus publish -> stored -> a live :func:`replay`
    reader in this process.

    Baseline, in the same rounds: the same payloads and ids stored through nats-py's public JetStream API
    (``publish_async`` and its acknowledgement futures) from one process with no bus at all, the way the
    library offers to do it."""
    from tests.bridges.nats_server import nats_cluster

    def measure() -> None:
        with nats_cluster(1) as nodes:
            rounds, library = [], []
            for i in range(NATS_ROUNDS):
                rounds.append(asyncio.run(_nats_round(nodes[0], NATS_COUNT, 0, f"BENCHA{i}")))
                library.append(asyncio.run(_library_round(nodes[0], NATS_LIBRARY_COUNT, f"BENCHL{i}")))
            follow = asyncio.run(_nats_round(nodes[0], NATS_LATENCY_COUNT, NATS_LATENCY_RATE, "BENCHB"))
        median = sorted(rounds, key=lambda r: r.rate)[len(rounds) // 2]
        FIGURES["NATS bridge into JetStream"] = (
            f"{median.rate:>12,.0f} msg/s median of {len(rounds)} (target >= 50,000: "
            f"{'met' if median.rate >= 50_000 else 'MISSED'}); CPU per message: bridge "
            f"{median.bridge_us:.1f} us, nats-server {median.server_us:.1f} us (publisher about "
            f"{median.publisher_us:.1f} us)"
        )
        base = statistics.median(library)
        FIGURES["NATS baseline: nats-py publish_async"] = (
            f"{base:>12,.0f} msg/s median of {len(library)} (same payloads and ids, one process, no bus); "
            f"the bridge {median.rate / base:.1f}x"
        )
        FIGURES["NATS bridge rounds"] = "  ".join(
            f"{r.rate:,.0f}/s (bridge {r.bridge_us:.1f} us, server {r.server_us:.1f} us, {r.load})"
            for r in rounds
        )
        latencies = follow.latencies_ns
        FIGURES["NATS bridge end to end (2k/s)"] = (
            f"p50 {_percentile(latencies, 0.5):8.1f} us  p99 {_percentile(latencies, 0.99):8.1f} us; CPU "
            f"per message: bridge {follow.bridge_us:.1f} us, nats-server {follow.server_us:.1f} us "
            f"({follow.load})"
        )

    benchmark.pedantic(measure, rounds=1, iterations=1)


async def _nats_round(node: Any, count: int, rate: float, prefix: str) -> _NatsRound:
    config = JetStreamConfig(
        servers=(node.url,), topics=("market",), stream_prefix=prefix, subject_prefix=prefix.lower()
    )
    bus = f"tcp://127.0.0.1:{free_port()}"
    argv = [sys.executable, "-m", "tradebridge.cli", "bridge", "nats", "in", "--bus", bus, "--nats", node.url]
    argv += ["--topics", "market", "--stream-prefix", prefix, "--subject-prefix", prefix.lower()]
    nc = await connect(config)
    js = nc.jetstream()
    stream = stream_name(config, "market")
    latencies: list[int] = []

    async def follow() -> None:
        async for item in replay(nc, config, "market"):
            frame = item.frame
            latencies.append(
                time.monotonic_ns() - int(frame[frame.index(b'"t":') + 4 : frame.index(b',"p"')])
            )
            if len(latencies) == count:
                return

    try:
        with Service("bridge", argv, ready_line=r"bridge nats in ready", grace=30) as bridge:
            bridge.wait_ready(20)
            follower = asyncio.create_task(follow()) if rate else None
            before = cpu_seconds(bridge.pid), cpu_seconds(node.service.pid)
            publisher = subprocess.Popen([sys.executable, PEERS, "pub", bus, "bind", str(count), str(rate)])
            try:
                deadline, publisher_start = time.monotonic() + 120, None
                while (stored := (await js.stream_info(stream)).state.messages) < count:
                    assert time.monotonic() < deadline, f"{prefix}: not all stored in 120 s"
                    if stored and publisher_start is None:  # its start-up (interpreter, imports) left out
                        publisher_start = cpu_seconds(publisher.pid)
                    await asyncio.sleep(0.02)
                after = cpu_seconds(bridge.pid), cpu_seconds(node.service.pid)
                publisher_cpu = cpu_seconds(publisher.pid) - (publisher_start or 0.0)
                if follower is not None:
                    await asyncio.wait_for(follower, 60)
            finally:
                publisher.kill()
                publisher.wait()
        stats = json.loads(bridge.output().strip().splitlines()[-1])
        assert stats["stored"] == count and stats["duplicates"] == 0, stats
        first, last = await js.get_msg(stream, 1), await js.get_msg(stream, count)
        assert first.time is not None and last.time is not None
        seconds = (last.time - first.time).total_seconds()
    finally:
        await nc.close()
    return _NatsRound(
        rate=(count - 1) / seconds,
        bridge_us=(after[0] - before[0]) / count * 1e6,
        server_us=(after[1] - before[1]) / count * 1e6,
        publisher_us=publisher_cpu / count * 1e6,
        load=_load(),
        latencies_ns=latencies,
    )


async def _library_round(node: Any, count: int, prefix: str) -> float:
    """msg/s stored by the baseline: nats-py's ``publish_async`` of the publisher's payloads and ids."""
    config = JetStreamConfig(
        servers=(node.url,), topics=("market",), stream_prefix=prefix, subject_prefix=prefix.lower()
    )
    nc = await connect(config)
    js = nc.jetstream()
    stream, pad = stream_name(config, "market"), b"x" * 80
    try:
        await ensure_streams(js, config)
        acks = []
        for i in range(count):
            payload = b'{"seq":%d,"source":"bench","t":%d,"p":"%s"}' % (i, time.monotonic_ns(), pad)
            subject = f"{prefix.lower()}.market._"
            acks.append(await js.publish_async(subject, payload, headers={"Nats-Msg-Id": f"bench:{i}"}))
        stored = await asyncio.gather(*acks)
        assert [ack.seq for ack in stored] == list(range(1, count + 1))
        first, last = await js.get_msg(stream, 1), await js.get_msg(stream, count)
        assert first.time is not None and last.time is not None
        return (count - 1) / (last.time - first.time).total_seconds()
    finally:
        await nc.close()
