"""``PATCH /v2/orders/{order_id}``: replace (the rest of the orders API lives in :mod:`..server`)."""

from __future__ import annotations

import uuid

from aiohttp import web

from tradebridge_mocks.broker.engine import invalid
from tradebridge_mocks.broker.replace import replace
from tradebridge_mocks.broker.routes.common import answer, json_body, state


async def replace_order(request: web.Request) -> web.Response:
    try:
        order_id = str(uuid.UUID(request.match_info["order_id"]))
    except ValueError:
        raise invalid("order_id is missing or malformed") from None
    body = await json_body(request, required=False)
    return answer(replace(state(request).engine, order_id, body).to_json())


def register(router: web.UrlDispatcher) -> None:
    router.add_patch("/v2/orders/{order_id}", replace_order)
