"""``GET|PATCH /v2/account/configurations``, with their effects on the engine: ``no_shorting`` refuses short
sales (403), ``suspend_trade`` refuses new orders and replaces (403 ``new orders are rejected by user
request``), ``fractional_trading: false`` refuses fractional and notional orders (403).

``dtbp_check`` and ``pdt_check`` left Alpaca's responses on 2026-07-06 (FINRA's intraday-margin rule): they
are answered ``null`` and a PATCH may still send them (alpaca-py sends ``null``), to no effect.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tradebridge_mocks.broker.engine import invalid
from tradebridge_mocks.broker.routes.common import answer, json_body, state

_BOOLEANS = ("fractional_trading", "no_shorting", "suspend_trade", "ptp_no_exception_entry")
_RETIRED = {"dtbp_check": ("both", "entry", "exit", "none"), "pdt_check": ("both", "entry", "exit")}


async def get_configurations(request: web.Request) -> web.Response:
    engine = state(request).engine
    with engine.lock:
        return answer(dict(engine.configuration))


def _validated(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")
    changes: dict[str, Any] = {}
    for name, value in body.items():
        if name in _BOOLEANS:
            if not isinstance(value, bool):
                raise invalid(f"{name} must be a boolean")
            changes[name] = value
        elif name == "trade_confirm_email":
            if value not in ("all", "none"):
                raise invalid("trade_confirm_email must be all or none")
            changes[name] = value
        elif name == "max_margin_multiplier":
            if str(value) not in ("1", "2", "4"):
                raise invalid("max_margin_multiplier must be 1, 2 or 4")
            if str(value) != "1":
                raise invalid("the mock's paper account is a cash account: max_margin_multiplier must be 1")
            changes[name] = "1"
        elif name == "max_options_trading_level":
            if value is not None and (isinstance(value, bool) or value not in (0, 1, 2, 3)):
                raise invalid("max_options_trading_level must be 0, 1, 2 or 3")
            if value not in (None, 0):
                raise invalid("the mock does not trade options: max_options_trading_level must be 0")
        elif name in _RETIRED:
            if value is not None and value not in _RETIRED[name]:
                raise invalid(f"invalid {name}: {value!r}")
        else:
            raise invalid(f"unknown account configuration: {name!r}")
    return changes


async def patch_configurations(request: web.Request) -> web.Response:
    changes = _validated(await json_body(request))
    engine = state(request).engine
    with engine.lock:
        engine.configuration.update(changes)
        return answer(dict(engine.configuration))


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/v2/account/configurations", get_configurations)
    router.add_patch("/v2/account/configurations", patch_configurations)
