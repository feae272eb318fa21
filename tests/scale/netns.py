"""Hosts as Linux network namespaces, joined by veth links to a bridge in a "switch" namespace.

Every namespace is named ``tb-<pid>-<run>-<host>`` (the switch: ``...-sw``) and removed on exit, even on
failure; :func:`remove_stale` removes those of earlier runs whose process is gone. Addresses come only from
the benchmarking range 198.18.0.0/15 and live only on these links; nothing is routed anywhere else (the
namespaces have no default route and no link to the outside). Processes run with ``ip netns exec``.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tradebridge.testing import Service

PREFIX = "tb-"
SUBNET = "198.18.0"  # /24 inside 198.18.0.0/15
_runs = itertools.count()


class NetnsUnavailableError(RuntimeError):
    """This machine (or this user) cannot create network namespaces; the reason is the message."""


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise NetnsUnavailableError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")


def probe() -> None:
    """Creates and removes a namespace with a veth pair; :class:`NetnsUnavailableError` if refused."""
    name = f"{PREFIX}{os.getpid()}-probe"
    try:
        _ip("netns", "add", name)
        _ip("-n", name, "link", "add", "name", "va", "type", "veth", "peer", "name", "vb")
    except FileNotFoundError as exc:
        raise NetnsUnavailableError(f"no 'ip' command: {exc}") from None
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def remove_stale() -> list[str]:
    """Removes ``tb-<pid>-*`` namespaces whose process no longer runs (earlier crashed runs)."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    removed = []
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX) :].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
            removed.append(name)
    return removed


class Fabric:
    """A switch and some hosts: ``fabric.address("B")``, ``fabric.service("B", name, argv)``, and faults
    (``link_down``/``link_up``, ``netem``). Use as a context manager: everything is removed on exit."""

    def __init__(self, hosts: Sequence[str]) -> None:
        self.tag = f"{PREFIX}{os.getpid()}-{next(_runs)}"
        self.hosts = list(hosts)
        self.switch = f"{self.tag}-sw"
        self.services: list[Service] = []
        self._made: list[str] = []

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def address(self, host: str) -> str:
        return f"{SUBNET}.{self.hosts.index(host) + 1}"

    def __enter__(self) -> Fabric:
        try:
            _ip("netns", "add", self.switch)
            self._made.append(self.switch)
            _ip("-n", self.switch, "link", "add", "name", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            for index, host in enumerate(self.hosts):
                ns = self.namespace(host)
                _ip("netns", "add", ns)
                self._made.append(ns)
                port = f"p{index}"
                _ip(
                    "-n",
                    self.switch,
                    "link",
                    "add",
                    "name",
                    port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    ns,
                )
                _ip("-n", self.switch, "link", "set", port, "master", "br0")
                _ip("-n", self.switch, "link", "set", port, "up")
                _ip("-n", ns, "addr", "add", f"{self.address(host)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for service in reversed(self.services):
            service.stop(grace=2)
        for ns in reversed(self._made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        self._made.clear()

    def service(self, host: str, name: str, argv: Sequence[str], **kwargs: object) -> Service:
        """A :class:`Service` that runs ``argv`` inside ``host`` (started by the caller)."""
        service = Service(name, ["ip", "netns", "exec", self.namespace(host), *argv], **kwargs)  # type: ignore[arg-type]
        self.services.append(service)
        return service

    def link_down(self, host: str) -> None:
        _ip("-n", self.switch, "link", "set", f"p{self.hosts.index(host)}", "down")

    def link_up(self, host: str) -> None:
        _ip("-n", self.switch, "link", "set", f"p{self.hosts.index(host)}", "up")

    def netem(self, host: str, *spec: str) -> None:
        """``tc netem`` on the host's link, e.g. ``netem("C", "delay", "1ms", "loss", "0.1%")``."""
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.namespace(host),
                "tc",
                "qdisc",
                "replace",
                "dev",
                "eth0",
                "root",
                "netem",
                *spec,
            ],
            check=True,
            capture_output=True,
            timeout=10,
        )

    def run(self, host: str, argv: Sequence[str], timeout: float = 10) -> str:
        """Runs a short command in ``host`` and returns its output."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace(host), *argv],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        ).stdout
