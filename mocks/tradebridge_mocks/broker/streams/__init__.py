"""The mock broker's WebSocket streams, as Alpaca serves them.

* ``/v2/iex``, ``/v2/sip``, ``/v2/test``: real-time market data (:mod:`.data`), printed from the same price
  book the REST API quotes and the engine fills at;
* ``/stream``: trade updates (:mod:`.trading`) of the broker's paper account;
* ``POST /admin/streams/faults`` and ``GET /admin/streams``: fault injection and counters (:mod:`.hub`).
"""

from __future__ import annotations

from aiohttp import web

from tradebridge_mocks.broker.streams import data, trading
from tradebridge_mocks.broker.streams.hub import HUB_KEY, StreamHub, admin_stream_faults, admin_streams
from tradebridge_mocks.broker.streams.options import (
    DATA_PATHS,
    STREAM_PATHS,
    TRADING_PATH,
    FaultError,
    StreamFault,
    StreamOptions,
)

__all__ = ["STREAM_PATHS", "FaultError", "StreamFault", "StreamHub", "StreamOptions", "install"]


def install(app: web.Application, hub: StreamHub) -> None:
    """Add the stream routes and their control endpoints to the broker's app."""
    app[HUB_KEY] = hub
    for path in DATA_PATHS:
        app.router.add_get(path, data.handle)
    app.router.add_get(TRADING_PATH, trading.handle)
    app.router.add_post("/admin/streams/faults", admin_stream_faults)
    app.router.add_get("/admin/streams", admin_streams)
