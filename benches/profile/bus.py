"""Where a publish and a receive spend their CPU, ours beside the hand-written loops: perf, by cost centre.

    python -m benches.profile.bus [--rounds N] [--top K]      # or: make profile

``make bench`` says how far from its target each path is; this says what the remaining cost is made of,
in ns per message of the working thread, so that what could still go and what cannot is read off one
table. Each candidate runs in this process with ``perf record`` attached to this thread only (libzmq's I/O
thread works alike for all), sampling only while the timed loop runs (perf's control FIFO switches it on
and off around the loop: no set-up, no feed start in the profile). The shares perf finds are spread over
the thread's CPU time per message measured around the same loops.

- receive: 20,000 ``BarUpdate`` frames from the Rust ``bus-peer`` queued on the socket before the loop
  starts (the receiver's own work, not the feed's speed): the hand-written ``recv`` + split + bare Struct,
  and the SDK's ``receive`` (validated, counted);
- publish: 20,000 ``BarUpdate`` to a subscribed drain process: raw pyzmq sending pre-encoded frames (the
  limit), the hand-written ``send(topic + b" " + encode(msg))`` and the SDK's ``publish``.

The cost centres are symbol rules (``CENTRES``): what msgspec does to parse or print JSON, the contract's
checks (msgspec's constraints, the native ``__post_init__`` and the decode guard), the bus's bookkeeping,
libzmq and the kernel, pyzmq's binding, copies, the C library (heap, locks), Python objects, the GC and
the interpreter.
Needs ``perf`` (Debian ``linux-perf``; ``make profile`` installs it) and perf events for this user.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec
import zmq
from tradebridge.bus.sync import ZMQPublisher
from tradebridge.testing import free_port

from benches.bus.bench_bus import (
    PER_ROUND,
    RAW_PEERS,
    UNBOUNDED,
    BareBar,
    fed_socket,
    fed_subscriber,
    spawn,
)
from tests.bus.samples import bar

# -- cost centres ------------------------------------------------------------------------------------------
# (name, dso parts, symbol parts): the first rule one of whose dso parts is in the sample's dso and, when
# symbol parts are given, one of those in its symbol, names the sample's centre.
CHECKS = "contract checks (msgspec constraints, native __post_init__, decode guard)"
ACCOUNTING = "bus bookkeeping (route, seq/stream accounting, transit, envelope)"
CENTRES: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    (CHECKS, ("_native",), ("contract_guard",)),
    (CHECKS, ("_core.cpython",), ("constr", "ms_passes", "ms_err")),
    (ACCOUNTING, ("_native",), ()),
    ("msgspec JSON parse / print", ("_core.cpython",), ()),
    ("libzmq + kernel (the transfer itself)", ("libzmq", "[kernel", "[vdso"), ()),
    ("pyzmq's binding (Cython)", ("zmq",), ()),
    ("copies (memcpy, memmove, memcmp)", ("libc",), ("mem", "str")),
    ("C library (malloc, free, locks)", ("libc",), ()),
    ("Python GC", ("libpython",), ("gc_", "visit_", "GC_")),
    ("Python objects (create, free)", ("libpython",), ("alloc", "Alloc", "Free", "free", "New", "From")),
    ("Python interpreter (loops, calls, generator)", ("libpython",), ()),
]
OTHER = "other"


def centre(dso: str, symbol: str) -> str:
    for name, dso_parts, symbol_parts in CENTRES:
        if any(part in dso for part in dso_parts) and (
            not symbol_parts or any(part in symbol for part in symbol_parts)
        ):
            return name
    return OTHER


def shares_of(report: str) -> dict[tuple[str, str], float]:
    """``perf report --sort dso,sym -t '\\x1f'`` as the share of the samples per ``(dso, symbol)``."""
    shares: dict[tuple[str, str], float] = {}
    for line in report.splitlines():
        fields = [field.strip() for field in line.split("\x1f")]
        if len(fields) >= 3 and fields[0].endswith("%"):
            key = (fields[1], fields[2].removeprefix("[.] ").removeprefix("[k] "))
            shares[key] = shares.get(key, 0.0) + float(fields[0][:-1]) / 100
    return shares


# -- perf ---------------------------------------------------------------------------------------------------
class Profiler:
    """``perf record`` on this thread, switched on only inside :meth:`sampling`."""

    def __init__(self, folder: Path, name: str) -> None:
        self.data = folder / f"{name}.data"
        control, ack = folder / f"{name}.ctl", folder / f"{name}.ack"
        os.mkfifo(control)
        os.mkfifo(ack)
        self.process = subprocess.Popen(
            [
                "perf",
                "record",
                "-q",
                "-t",
                str(os.getpid()),
                "-F",
                "9999",
                "-D",
                "-1",
                "--control",
                f"fifo:{control},{ack}",
                "-o",
                str(self.data),
            ],
            stdout=subprocess.DEVNULL,
        )
        self.control = control.open("w")  # returns once perf has opened its end
        self.ack = ack.open()
        control.unlink()  # both ends are open: the names are no longer needed
        ack.unlink()
        self.cpu = 0.0
        self.messages = 0
        self.warming = False

    def _say(self, command: str) -> None:
        self.control.write(command + "\n")
        self.control.flush()
        self.ack.readline()

    @contextmanager
    def sampling(self, messages: int) -> Iterator[None]:
        if self.warming:  # the first round: caches, allocators and libzmq's pipes settle, unmeasured
            yield
            return
        self._say("enable")
        started = time.thread_time()
        try:
            yield
        finally:
            self.cpu += time.thread_time() - started
            self._say("disable")
            self.messages += messages

    def report(self) -> dict[tuple[str, str], float]:
        """Share of the samples per ``(dso, symbol)``."""
        self.process.send_signal(2)
        self.process.wait(timeout=60)
        self.control.close()
        self.ack.close()
        out = subprocess.run(
            [
                "perf",
                "report",
                "-i",
                str(self.data),
                "--no-children",
                "--sort",
                "dso,sym",
                "--stdio",
                "-q",
                "-t",
                "\x1f",
                "--percent-limit",
                "0",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return shares_of(out)

    @property
    def ns_per_message(self) -> float:
        return self.cpu / self.messages * 1e9


# -- the candidates ---------------------------------------------------------------------------------------
Candidate = Callable[[Profiler], None]


def hand_receive(context: zmq.Context[Any]) -> Candidate:
    decode = msgspec.json.Decoder(BareBar).decode

    def run(profiler: Profiler) -> None:
        feed, socket = fed_socket(context)
        feed.communicate()  # every frame is queued: the loop measures the receiver alone
        recv = socket.recv
        with profiler.sampling(PER_ROUND):
            for _ in range(PER_ROUND):
                _, _, payload = recv().partition(b" ")
                decode(payload)
        socket.close(0)

    return run


def sdk_receive(profiler: Profiler) -> None:
    with fed_subscriber() as (sub, feed):
        feed.communicate()  # every frame is queued: the loop measures the receiver alone
        received = sub.receive(idle_timeout=5)
        with profiler.sampling(PER_ROUND):
            for _ in range(PER_ROUND):
                next(received)


def publishers(context: zmq.Context[Any], drain: str) -> tuple[dict[str, Candidate], Callable[[], None]]:
    """Raw, hand-written and SDK publish to one subscribed drain; and what closes them."""
    messages = [bar(i) for i in range(PER_ROUND)]
    socket = context.socket(zmq.XPUB)
    socket.setsockopt(zmq.SNDHWM, 0)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.RCVTIMEO, 10_000)
    pub = ZMQPublisher(drain, bind=False, options=UNBOUNDED)

    def close() -> None:
        pub.close()
        socket.close(0)

    try:
        socket.connect(drain)
        socket.recv()  # the drain's subscription: these are real sends
        pub.connect()
        pub.wait_for_subscribers(1, timeout=10)
    except BaseException:
        close()
        raise
    frames = [pub._core.frame(message) for message in messages]  # exactly the SDK's frames
    send, encode = socket.send, msgspec.json.Encoder().encode

    def raw(profiler: Profiler) -> None:
        with profiler.sampling(PER_ROUND):
            for frame in frames:
                send(frame)

    def hand_written(profiler: Profiler) -> None:
        with profiler.sampling(PER_ROUND):
            for message in messages:
                send(b"market" + b" " + encode(message))

    def sdk(profiler: Profiler) -> None:
        publish = pub.publish
        with profiler.sampling(PER_ROUND):
            for message in messages:
                publish(message)

    return {RAW_SEND: raw, HAND_SEND: hand_written, SDK_PUBLISH: sdk}, close


# -- the run ------------------------------------------------------------------------------------------------
def profile(candidates: dict[str, Candidate], rounds: int, folder: Path) -> dict[str, Profiler]:
    """Every candidate once per round, round after round (the machine's drift hits them alike), after a
    warm-up round that is not sampled."""
    profilers: dict[str, Profiler] = {}
    try:
        for index, name in enumerate(candidates):
            profilers[name] = Profiler(folder, f"p{index}")
        for round_ in range(rounds + 1):
            for name, run in candidates.items():
                profilers[name].warming = round_ == 0
                run(profilers[name])
    except BaseException:
        for profiler in profilers.values():
            profiler.process.kill()
            profiler.process.wait()
        raise
    return profilers


class Breakdown:
    """ns/msg per cost centre and per candidate, from the candidates' profiles."""

    def __init__(self, profilers: dict[str, Profiler], top: int) -> None:
        self.names = list(profilers)
        self.centres: dict[str, dict[str, float]] = {}
        self.totals = {name: profiler.ns_per_message for name, profiler in profilers.items()}
        self.hottest: dict[str, list[tuple[float, str]]] = {}
        for name, profiler in profilers.items():
            total = self.totals[name]
            shares = profiler.report()
            for (dso, symbol), share in shares.items():
                row = self.centres.setdefault(centre(dso, symbol), {})
                row[name] = row.get(name, 0.0) + share * total
            ranked = sorted((share * total, f"{symbol} ({dso})") for (dso, symbol), share in shares.items())
            self.hottest[name] = ranked[::-1][:top]

    def ns(self, name: str, *centres: str) -> float:
        return sum(self.centres.get(key, {}).get(name, 0.0) for key in centres)

    def table(self, title: str) -> str:
        """A column per candidate, and the last one's difference to the first."""
        names, first, last = self.names, self.names[0], self.names[-1]
        total = "total: thread CPU per message"
        width = max(len(key) for key in [*self.centres, total])
        lines = [
            title,
            f"{'ns/msg':<{width}}  " + "  ".join(f"{name:>24}" for name in names) + f"  {'difference':>10}",
        ]
        rows = sorted(self.centres.items(), key=lambda item: -max(item[1].values()))
        for key, row in [*rows, (total, self.totals)]:
            cells = "  ".join(f"{row.get(name, 0.0):>24.0f}" for name in names)
            lines.append(f"{key:<{width}}  {cells}  {row.get(last, 0.0) - row.get(first, 0.0):>+10.0f}")
        for name in names:
            hottest = "; ".join(f"{symbol} {ns:.0f}" for ns, symbol in self.hottest[name])
            lines.append(f"  hottest in {name}: {hottest}")
        return "\n".join(lines)


HAND_RECEIVE, SDK_RECEIVE = "hand-written recv+split+bare", "SDK receive"
RAW_SEND, HAND_SEND, SDK_PUBLISH = "raw send (pre-encoded)", "hand-written", "SDK publish"
PRINT = "msgspec JSON parse / print"


def receive_verdict(breakdown: Breakdown) -> str:
    """What the SDK's receive does that the bare loop does not, and where it stands without it."""
    checks, accounting = breakdown.ns(SDK_RECEIVE, CHECKS), breakdown.ns(SDK_RECEIVE, ACCOUNTING)
    kept = checks + accounting
    hand, ours = breakdown.totals[HAND_RECEIVE], breakdown.totals[SDK_RECEIVE]
    return (
        f"receive: the work the rules keep and the bare loop does not do costs {kept:.0f} ns/msg (contract"
        f" checks {checks:.0f}, bookkeeping {accounting:.0f});"
        f" the SDK's {ours:.0f} without it would be {ours - kept:.0f} against the bare loop's {hand:.0f}"
        f" ({hand / (ours - kept):.2f}x); with it {hand / ours:.2f}x"
        f" (target >= 1.0: {'met' if hand >= ours else 'missed'})"
    )


def publish_verdict(breakdown: Breakdown) -> str:
    """The SDK's publish apart from its encode, against the raw send of pre-encoded frames."""
    encode, by_hand = breakdown.ns(SDK_PUBLISH, PRINT), breakdown.ns(HAND_SEND, PRINT)
    raw, ours = breakdown.totals[RAW_SEND], breakdown.totals[SDK_PUBLISH]
    allowed = raw / 0.85 - (ours - encode)
    verdict = (
        "met"
        if raw / ours >= 0.85
        else f"missed; meeting it would leave the print {allowed:.0f} ns, {allowed / encode:.0%} of msgspec's"
    )
    return (
        f"publish: the SDK's {ours:.0f} ns/msg = msgspec printing the JSON {encode:.0f} + the rest"
        f" {ours - encode:.0f}, against the raw send's {raw:.0f} (which prints nothing): the rest alone is"
        f" {raw / (ours - encode):.2f}x the limit's speed, the whole {raw / ours:.2f}x (target >= 0.85:"
        f" {verdict}; the hand-written loop prints with the same msgspec: {by_hand:.0f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds of 20,000 messages per candidate")
    parser.add_argument("--top", type=int, default=8, help="hottest symbols listed per candidate")
    parser.add_argument("--only", choices=("receive", "publish"), help="profile one path only")
    parser.add_argument("--keep", type=Path, help="keep perf's data files in this folder (for perf report)")
    args = parser.parse_args(argv)
    if shutil.which("perf") is None:
        print(
            "perf is not installed (Debian: apt-get install linux-perf; make profile does)", file=sys.stderr
        )
        return 2
    context: zmq.Context[Any] = zmq.Context()
    drain = f"tcp://127.0.0.1:{free_port()}"
    sink = spawn(sys.executable, str(RAW_PEERS), "drain", drain)
    try:
        with tempfile.TemporaryDirectory(prefix="tb-profile-") as scratch:
            folder = args.keep or Path(scratch)
            (folder / "receive").mkdir(parents=True, exist_ok=True)
            (folder / "publish").mkdir(exist_ok=True)
            verdicts = []
            if args.only != "publish":
                receiving = {HAND_RECEIVE: hand_receive(context), SDK_RECEIVE: sdk_receive}
                receive = Breakdown(profile(receiving, args.rounds, folder / "receive"), args.top)
                print(receive.table(f"receive BarUpdate, {args.rounds} x {PER_ROUND:,} pre-queued frames"))
                print()
                verdicts.append(receive_verdict(receive))
            if args.only != "receive":
                candidates, close = publishers(context, drain)
                try:
                    publish = Breakdown(profile(candidates, args.rounds, folder / "publish"), args.top)
                finally:
                    close()
                print(
                    publish.table(f"publish BarUpdate, {args.rounds} x {PER_ROUND:,} to a subscribed drain")
                )
                print()
                verdicts.append(publish_verdict(publish))
            print("\n".join(verdicts))
    finally:
        sink.kill()
        sink.communicate()
        context.term()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
