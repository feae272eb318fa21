"""The guide's ORIGINAL Python publisher, as a test peer: what the original bridge really sends.

Source: ``src/bridge/zmq_bridge.py`` of SamoraDC/RustAlgorithmTrading, as studied in
``/work/shared/reference/original-implementation.md`` (section 2, "What Python actually sends", verified
bytes; section 5, "ZMQ bridge"): an asyncio ``ZMQPublisher`` with its own context that *binds*, sleeps
0.1 s, and sends ``send_string(f"{topic} {json.dumps({'type': message_type.value, **data})}")``, so a
signal is tagged ``"SignalGenerated"`` and a ``nan`` feature becomes the bare token ``NaN`` (``json.dumps``
with its defaults). Kept as it behaves there: no socket options, no slow-joiner handling, no envelope.
Only the logger differs (the standard library's instead of loguru, which is not a dependency here); do not
"fix" anything else, the point is to run our subscriber against exactly this.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import zmq
import zmq.asyncio

logger = logging.getLogger("original_bridge")


class MessageType(str, Enum):  # noqa: UP042 - as the original wrote it
    ORDER_BOOK_UPDATE = "OrderBookUpdate"
    TRADE_UPDATE = "TradeUpdate"
    BAR_UPDATE = "BarUpdate"
    SIGNAL_GENERATED = "SignalGenerated"
    ORDER_REQUEST = "OrderRequest"
    ORDER_RESPONSE = "OrderResponse"
    POSITION_UPDATE = "PositionUpdate"
    RISK_CHECK = "RiskCheck"
    RISK_CHECK_RESULT = "RiskCheckResult"
    HEARTBEAT = "Heartbeat"
    SHUTDOWN = "Shutdown"


@dataclass
class Signal:
    symbol: str
    direction: str
    strength: float
    timestamp: int
    features: list[float] | None = None
    metadata: dict[str, Any] | None = None


class ZMQPublisher:
    def __init__(self, address: str = "tcp://127.0.0.1:5556") -> None:
        self.address = address
        self.context = zmq.asyncio.Context()
        self.socket: zmq.asyncio.Socket | None = None

    async def connect(self) -> None:
        self.socket = self.context.socket(zmq.PUB)
        self.socket.bind(self.address)
        logger.info(f"ZMQ publisher bound to {self.address}")
        await asyncio.sleep(0.1)

    async def publish(self, topic: str, message_type: MessageType, data: dict[str, Any]) -> None:
        if not self.socket:
            raise RuntimeError("Publisher not connected")
        message = {"type": message_type.value, **data}
        await self.socket.send_string(f"{topic} {json.dumps(message)}")

    async def publish_signal(self, signal: Signal) -> None:
        await self.publish("signal", MessageType.SIGNAL_GENERATED, asdict(signal))

    async def publish_heartbeat(self, component: str) -> None:
        await self.publish(
            "system",
            MessageType.HEARTBEAT,
            {"component": component, "timestamp": int(time.time() * 1000)},
        )

    async def close(self) -> None:
        if self.socket:
            self.socket.close()
            logger.info("ZMQ publisher closed")

    async def __aenter__(self) -> ZMQPublisher:
        await self.connect()
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.close()
