"""What the streams take from the command line, and the faults they can be told to play.

No dependency on the rest of the broker, so :mod:`..server` can hold a :class:`StreamOptions` in its config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: the WebSocket paths, which the REST middleware (key headers, rate limit, REST faults) leaves alone
DATA_PATHS = ("/v2/iex", "/v2/sip", "/v2/test")
TRADING_PATH = "/stream"
STREAM_PATHS = frozenset((*DATA_PATHS, TRADING_PATH))

STREAMS = ("data", "trading")
ACTIONS = ("drop", "mute", "malformed", "refuse_auth", "delay", "clear")

#: stable codes of the control endpoint's refusals (Alpaca's style: HTTP status then a sequence number)
BAD_FAULT = 40010101


class FaultError(ValueError):
    """A stream fault that cannot be played; ``code`` is stable (:data:`BAD_FAULT`)."""

    code = BAD_FAULT


@dataclass(frozen=True)
class StreamFault:
    """One fault on one stream (``data``: ``/v2/{iex,sip,test}``; ``trading``: ``/stream``).

    * ``drop``: abort every open connection now (no close frame), as a network cut does;
    * ``mute``: the open connections stop receiving anything (pings are still answered) for ``ms``
      milliseconds, or until ``clear`` when ``ms`` is 0; connections opened afterwards are healthy;
    * ``malformed``: send ``count`` undecodable frames to every open connection;
    * ``refuse_auth``: refuse the next ``count`` authentications, whatever the keys;
    * ``delay``: hold every frame of the stream back ``ms`` milliseconds, until ``clear`` (or ``ms`` 0);
    * ``clear``: end the standing faults (mute, delay, refuse_auth, repetitions) of the stream.

    ``every_ms`` > 0 replays a ``drop``, ``mute`` or ``malformed`` fault at that period until ``clear``.
    """

    stream: str
    action: str
    ms: float = 0.0
    count: int = 1
    every_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.stream not in STREAMS:
            raise FaultError(f"stream must be one of {', '.join(STREAMS)}, got {self.stream!r}")
        if self.action not in ACTIONS:
            raise FaultError(f"action must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        for name in ("ms", "every_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 3_600_000:
                raise FaultError(f"{name} must be a number of milliseconds in [0, 3600000], got {value!r}")
        count = self.count
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1_000_000:
            raise FaultError(f"count must be an integer in [1, 1000000], got {self.count!r}")
        if self.every_ms and self.action not in ("drop", "mute", "malformed"):
            raise FaultError("every_ms only repeats drop, mute and malformed")
        if self.every_ms and self.action == "mute" and not self.ms:
            raise FaultError("a repeated mute needs ms (how long each silence lasts)")

    @classmethod
    def from_json(cls, body: Any) -> StreamFault:
        if not isinstance(body, dict):
            raise FaultError("a stream fault is a JSON object")
        unknown = set(body) - {"stream", "action", "ms", "count", "every_ms"}
        if unknown:
            raise FaultError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        if "stream" not in body or "action" not in body:
            raise FaultError("a stream fault needs stream and action")
        return cls(**body)

    @classmethod
    def parse(cls, spec: str) -> StreamFault:
        """The command-line form ``STREAM:ACTION[:name=value,...]``, e.g. ``data:drop:every_ms=5000``."""
        parts = spec.split(":", 2)
        if len(parts) < 2:
            raise FaultError(f"expected STREAM:ACTION[:name=value,...], got {spec!r}")
        body: dict[str, Any] = {"stream": parts[0], "action": parts[1]}
        if len(parts) == 3 and parts[2]:
            for item in parts[2].split(","):
                name, sep, raw = item.partition("=")
                if not sep:
                    raise FaultError(f"expected name=value, got {item!r}")
                try:
                    body[name] = int(raw) if name == "count" else float(raw)
                except ValueError:
                    raise FaultError(f"{name} must be a number, got {raw!r}") from None
        return cls.from_json(body)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StreamOptions:
    """The streams' knobs (``tradebridge mock-broker --stream-...``)."""

    #: seconds between two ticks; every tick prints the current trade and quote of each subscribed symbol,
    #: and the bars that arrived since the previous tick; 0 stops the stream clock (control frames only)
    interval: float = 0.1
    #: seconds a new connection has to authenticate before Alpaca's 404 ``auth timeout`` (Alpaca: 10)
    auth_timeout: float = 10.0
    #: authenticated market-data connections per key across /v2/{iex,sip,test} (406); 0 = no limit
    connection_limit: int = 1
    #: distinct symbols across trades and quotes per connection (405; Alpaca's free IEX plan: 30); 0 = none
    symbol_limit: int = 30
    #: bytes queued for one connection and not yet written before Alpaca's 407 ``slow client``
    slow_client_bytes: int = 4 * 1024 * 1024
    #: faults played as soon as the broker starts (``--stream-fault``)
    faults: tuple[StreamFault, ...] = field(default_factory=tuple)
