"""The ZAP handler and socket monitors of each context: who a binding socket admits, and what CURVE refused
on each socket (see the package docstring)."""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Final

import zmq
from zmq.auth.thread import ThreadAuthenticator

from tradebridge.bus._security.config import ALLOW_ANY, Curve
from tradebridge.bus._security.keys import CurveConfigError

_MONITOR_EVENTS: Final = (
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
_MONITOR_POLL_MS: Final = 50


@dataclass(frozen=True, slots=True)
class CurveStats:
    """What CURVE refused on one socket, since it was connected."""

    #: clients the allow-list does not hold (ZAP said 400)
    denied: int = 0
    #: handshakes libzmq refused before ZAP: plaintext peers, wrong server keys, garbage
    handshake_failed: int = 0
    #: clients the allow-list admitted
    allowed: int = 0


@dataclass(slots=True)
class _Counters:
    denied: int = 0
    handshake_failed: int = 0
    allowed: int = 0

    def snapshot(self) -> CurveStats:
        return CurveStats(self.denied, self.handshake_failed, self.allowed)


class _AllowList:
    """pyzmq's credentials provider for one ZAP domain: the allow-list check, counted."""

    def __init__(self, allow: frozenset[str] | str, counters: _Counters) -> None:
        self._allow = allow
        self._counters = counters

    def callback(self, domain: str, key: bytes) -> bool:
        allowed = self._allow == ALLOW_ANY or key.decode("ascii", "replace") in self._allow
        if allowed:
            self._counters.allowed += 1
        else:
            self._counters.denied += 1
        return allowed


class _Monitors(threading.Thread):
    """Reads the handshake-failure events of a context's secured sockets and counts them."""

    def __init__(self, context: zmq.Context[Any]) -> None:
        super().__init__(name="tradebridge-curve-monitor", daemon=True)
        self._context = context
        self._lock = threading.Lock()
        self._added: list[tuple[zmq.Socket[bytes], _Counters, bool]] = []
        self._removed: list[zmq.Socket[bytes]] = []
        self._halt = threading.Event()

    def add(self, pair: zmq.Socket[bytes], counters: _Counters, *, server: bool) -> None:
        with self._lock:
            self._added.append((pair, counters, server))

    def remove(self, pair: zmq.Socket[bytes]) -> None:
        with self._lock:
            self._removed.append(pair)

    def stop(self) -> None:
        self._halt.set()
        self.join()

    def run(self) -> None:
        poller = zmq.Poller()
        watched: dict[zmq.Socket[bytes], tuple[_Counters, bool]] = {}
        try:
            while not self._halt.is_set():
                with self._lock:
                    added, self._added = self._added, []
                    removed, self._removed = self._removed, []
                for pair, counters, server in added:
                    watched[pair] = (counters, server)
                    poller.register(pair, zmq.POLLIN)
                for pair in removed:
                    self._count(pair, watched)  # what came before the socket closed
                    watched.pop(pair, None)
                    poller.unregister(pair)
                    pair.close(linger=0)
                for pair, _ in poller.poll(_MONITOR_POLL_MS):
                    self._count(pair, watched)
        finally:
            with self._lock:
                pending = [pair for pair, _, _ in self._added] + self._removed
                self._added, self._removed = [], []
            for pair in {*watched, *pending}:
                pair.close(linger=0)

    @staticmethod
    def _count(pair: zmq.Socket[bytes], watched: dict[zmq.Socket[bytes], tuple[_Counters, bool]]) -> None:
        counters, server = watched.get(pair, (None, False))
        while True:
            try:
                frames = pair.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if counters is None:
                continue
            event = int.from_bytes(frames[0][:2], "little")
            if event != zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                counters.handshake_failed += 1
            elif not server:
                # a client the server's allow-list refused; on a server the allow-list counted it already
                counters.denied += 1


class _ContextGuard:
    """The ZAP handler and the monitor thread of one libzmq context, shared by its secured sockets."""

    def __init__(self, context: zmq.Context[Any]) -> None:
        self.context = context
        self.users = 0
        self.authenticator: ThreadAuthenticator | None = None
        self.monitors = _Monitors(context)
        self.monitors.start()

    def authenticator_for(self, domain: str, provider: _AllowList) -> None:
        if self.authenticator is None:
            authenticator = ThreadAuthenticator(self.context)
            try:
                authenticator.start()
            except zmq.ZMQError as exc:
                raise CurveConfigError(
                    "curve_zap_in_use",
                    f"another ZAP handler already serves this zmq context ({exc.strerror}): "
                    "give CURVE server sockets their own context",
                ) from None
            self.authenticator = authenticator
        self.authenticator.configure_curve_callback(domain, provider)

    def close(self) -> None:
        self.monitors.stop()
        if self.authenticator is not None:
            self.authenticator.stop()
            self.authenticator = None


_guards: dict[int, _ContextGuard] = {}  # libzmq context address -> its guard
_guards_lock = threading.Lock()
_sequence = itertools.count(1)


@dataclass(eq=False)
class CurveLease:
    """One secured socket's hold on its context's guard; :meth:`release` before the socket closes."""

    key: int
    domain: str | None
    pair: zmq.Socket[bytes]
    counters: _Counters = field(default_factory=_Counters)
    released: bool = False

    def stats(self) -> CurveStats:
        return self.counters.snapshot()

    def release(self) -> None:
        with _guards_lock:
            if self.released:
                return
            self.released = True
            guard = _guards[self.key]
            guard.monitors.remove(self.pair)
            if guard.authenticator is not None and self.domain is not None:
                guard.authenticator.credentials_providers.pop(self.domain, None)
            guard.users -= 1
            if guard.users == 0:
                # before the owner terminates the context, which waits for every socket of it
                del _guards[self.key]
                guard.close()


def secure(
    curve: Curve | None, socket: zmq.Socket[bytes], context: zmq.Context[Any] | None, *, bind: bool
) -> CurveLease | None:
    """Apply ``curve`` to a fresh socket of ``context`` (before its bind or connect): a binding socket
    becomes a CURVE server behind the allow-list, a connecting one a client of ``curve.server_public``."""
    if curve is None:
        return None
    if bind and curve.allow is None:
        raise CurveConfigError("curve_role_missing", "this socket binds: its CURVE keys need an allow-list")
    if not bind and curve.server_public is None:
        raise CurveConfigError(
            "curve_role_missing", "this socket connects: its CURVE keys need the server key"
        )
    number = next(_sequence)
    socket.setsockopt(zmq.CURVE_SECRETKEY, curve.secret.encode())
    socket.setsockopt(zmq.CURVE_PUBLICKEY, curve.public.encode())
    domain = None
    if bind:
        domain = f"tradebridge.{os.getpid()}.{number}"
        socket.setsockopt(zmq.CURVE_SERVER, 1)
        socket.setsockopt(zmq.ZAP_DOMAIN, domain.encode())
    else:
        assert curve.server_public is not None
        socket.setsockopt(zmq.CURVE_SERVERKEY, curve.server_public.encode())
    owner = context if context is not None else socket.context
    if owner is None:
        raise CurveConfigError("curve_no_context", "a CURVE socket needs its context (pass context=)")
    sync_context: zmq.Context[Any] = zmq.Context.shadow(owner.underlying)
    endpoint = f"inproc://tradebridge.curve.monitor.{number}"
    socket.monitor(endpoint, _MONITOR_EVENTS)
    pair: zmq.Socket[bytes] = sync_context.socket(zmq.PAIR)
    pair.connect(endpoint)  # before bind/connect: no event is missed
    key = sync_context.underlying
    with _guards_lock:
        guard = _guards.get(key)
        if guard is None:
            guard = _guards[key] = _ContextGuard(sync_context)
        guard.users += 1
        lease = CurveLease(key, domain, pair)
        try:
            if domain is not None:
                assert curve.allow is not None
                guard.authenticator_for(domain, _AllowList(curve.allow, lease.counters))
        except BaseException:
            guard.users -= 1
            pair.close(linger=0)
            if guard.users == 0:
                del _guards[key]
                guard.close()
            raise
        guard.monitors.add(pair, lease.counters, server=bind)
    return lease


def curve_stats_of(lease: CurveLease | None) -> CurveStats:
    return CurveStats() if lease is None else lease.stats()
