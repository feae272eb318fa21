"""Fault injection reaches the new routes: 5xx before or after the effect, 429 with Alpaca's rate-limit
headers, held-back answers, and bulk deletes that fail item by item."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderStatus
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest
from tradebridge_mocks.broker import Fault, MockBroker

from tests.mocks.rest.conftest import API_KEY, SECRET_KEY, call, client_for


def test_5xx_before_and_after_on_new_routes(trading: TradingClient, broker: MockBroker) -> None:
    broker.inject(Fault(status=503, when="before", method="PATCH", path="/v2/account/configurations"))
    config = trading.get_account_configurations()
    config.no_shorting = True
    with pytest.raises(APIError) as error:
        trading.set_account_configurations(config)
    assert error.value.status_code == 503
    assert trading.get_account_configurations().no_shorting is False  # never happened

    low = float(broker.state.prices.last("AAPL") - 5)
    order = trading.submit_order(
        LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day", limit_price=low)
    )
    broker.inject(Fault(status=502, when="after", method="PATCH", path=f"/v2/orders/{order.id}"))
    with pytest.raises(APIError) as error:
        trading.replace_order_by_id(order.id, ReplaceOrderRequest(qty=2))
    assert error.value.status_code == 502
    assert (
        trading.get_order_by_id(order.id).status == OrderStatus.REPLACED
    )  # it happened, the answer was lost
    assert [r.status for r in broker.requests if r.method == "PATCH"] == [503, 502]


def test_429_with_headers_on_new_routes() -> None:
    with MockBroker(seed=3, symbols=("AAPL",), rate_limit=2, rate_window=60) as broker:
        assert call(broker, "GET", "/v2/calendar?start=2026-01-02&end=2026-01-02")[0] == 200
        assert call(broker, "GET", "/v2/watchlists")[0] == 200
        request = urllib.request.Request(
            broker.url + "/v2/stocks/AAPL/snapshot",
            headers={"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY},
        )
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=5)
        assert error.value.code == 429
        assert (
            error.value.headers["X-RateLimit-Limit"] == "2"
            and error.value.headers["X-RateLimit-Remaining"] == "0"
        )
        assert int(error.value.headers["X-RateLimit-Reset"]) > 0
        assert json.loads(error.value.read())["code"] == 42910000


def test_a_held_back_answer_trips_a_client_timeout(broker: MockBroker) -> None:
    broker.inject(Fault(status=0, delay_ms=1000, path="/v2/stocks/snapshots"))
    request = urllib.request.Request(
        broker.url + "/v2/stocks/snapshots?symbols=AAPL",
        headers={"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY},
    )
    with pytest.raises(TimeoutError):
        urllib.request.urlopen(request, timeout=0.1)
    assert call(broker, "GET", "/v2/stocks/snapshots?symbols=AAPL")[0] == 200  # the fault was used up


def test_bulk_deletes_fail_item_by_item(broker: MockBroker) -> None:
    trading = client_for(broker)
    low = float(broker.state.prices.last("AAPL") - 5)
    ids = [
        str(
            trading.submit_order(
                LimitOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="gtc", limit_price=low)
            ).id
        )
        for _ in range(4)
    ]
    broker.inject(Fault(status=500, when="partial", method="DELETE", path="/v2/orders"))
    answers = trading.cancel_orders()
    assert [a.status for a in answers] == [200, 500, 200, 500]
    assert answers[1].body == {"code": 50010000, "message": "Failed to cancel order"}
    still_open = {str(o.id) for o in trading.get_orders()}
    assert still_open == {str(answers[1].id), str(answers[3].id)} and still_open <= set(ids)

    trading.cancel_orders()
    for symbol in ("AAPL", "MSFT"):
        trading.submit_order(MarketOrderRequest(symbol=symbol, qty=1, side="buy", time_in_force="day"))
    broker.inject(Fault(status=500, when="partial", method="DELETE", path="/v2/positions"))
    closed = trading.close_all_positions(cancel_orders=True)
    assert sorted(c.status for c in closed) == [200, 500]
    assert len(trading.get_all_positions()) == 1
