"""What every route module shares: the broker state of a request, JSON bodies and answers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tradebridge_mocks.broker.engine import invalid

if TYPE_CHECKING:
    from tradebridge_mocks.broker.server import BrokerState

#: Alpaca answers 413 for larger request bodies; aiohttp's own limit (1 MiB) is far above any real order
MAX_BODY_BYTES = 64 * 1024


def state(request: web.Request) -> BrokerState:
    from tradebridge_mocks.broker.server import STATE_KEY

    return request.app[STATE_KEY]


def answer(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


async def json_body(request: web.Request, *, required: bool = True) -> Any:
    """The request's JSON body; a 422 (40010001) when it is not JSON, a 413 when it is too large."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large()
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    if not raw.strip():
        if required:
            raise invalid("request body is required")
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid("request body is not valid JSON") from None
    except RecursionError:  # `[[[[...` within the size limit; found by tests/fuzz
        raise invalid("request body is nested too deeply") from None


def _too_large() -> Exception:
    from tradebridge_mocks.broker.engine import Refusal

    return Refusal(413, 41300000, f"request body is larger than {MAX_BODY_BYTES} bytes")
