"""The account: buying power after a short (issue 20), account configurations and their effects, assets."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import AssetClass, AssetExchange, AssetStatus
from alpaca.trading.models import AccountConfiguration
from alpaca.trading.requests import GetAssetsRequest, MarketOrderRequest
from tradebridge_mocks.broker import MockBroker

from tests.mocks.rest.conftest import call, refusal


def test_a_filled_short_uses_up_buying_power_as_its_order_did(
    trading: TradingClient, broker: MockBroker
) -> None:
    before = Decimal(trading.get_account().buying_power or "0")
    assert before == 100_000
    last = broker.state.prices.last("AAPL")
    qty = int(40_000 / last)
    trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=qty, side="sell", time_in_force="day"))
    account = trading.get_account()
    short_value = qty * last
    # the proceeds are not spendable and the short holds its own value as collateral
    assert Decimal(account.buying_power or "0") == (Decimal(account.cash or "0") - 2 * short_value).quantize(
        Decimal("0.01")
    )
    assert Decimal(account.buying_power or "0") < before - short_value + 100  # not "barely reduced"
    with pytest.raises(APIError) as error:  # a second short of the same size no longer fits at the 3% collar
        trading.submit_order(
            MarketOrderRequest(
                symbol="MSFT",
                qty=int(61_000 / broker.state.prices.last("MSFT")),
                side="sell",
                time_in_force="day",
            )
        )
    assert refusal(error)[:3] == (403, 40310000, "insufficient buying power")
    trading.close_position("AAPL")
    assert (
        abs(Decimal(trading.get_account().buying_power or "0") - before) < 50
    )  # the spread paid, nothing else


def test_configurations_round_trip_and_take_effect(trading: TradingClient) -> None:
    config = trading.get_account_configurations()
    assert config.no_shorting is False and config.suspend_trade is False and config.fractional_trading is True
    assert config.dtbp_check is None and config.pdt_check is None  # retired 2026-07-06

    config.no_shorting = True
    assert trading.set_account_configurations(config).no_shorting is True
    assert trading.get_account().shorting_enabled is False
    with pytest.raises(APIError) as error:
        trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="sell", time_in_force="day"))
    assert refusal(error) == (403, 40310000, "account is not allowed to short")

    config.fractional_trading = False
    trading.set_account_configurations(config)
    with pytest.raises(APIError) as error:
        trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=0.5, side="buy", time_in_force="day"))
    assert refusal(error)[:2] == (403, 40310000)
    with pytest.raises(APIError) as error:
        trading.submit_order(MarketOrderRequest(symbol="AAPL", notional=100, side="buy", time_in_force="day"))
    assert refusal(error)[:2] == (403, 40310000)

    config.suspend_trade = True
    trading.set_account_configurations(config)
    assert trading.get_account().trade_suspended_by_user is True
    with pytest.raises(APIError) as error:
        trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day"))
    assert refusal(error) == (403, 40310000, "new orders are rejected by user request")

    trading.set_account_configurations(
        AccountConfiguration(**{**config.model_dump(), "suspend_trade": False})
    )
    assert (
        trading.submit_order(
            MarketOrderRequest(symbol="AAPL", qty=1, side="buy", time_in_force="day")
        ).filled_qty
        == "1"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"no_shorting": "yes"},
        {"trade_confirm_email": "sometimes"},
        {"max_margin_multiplier": "3"},
        {"colour": "red"},
        [],
    ],
)
def test_bad_configurations_are_422(broker: MockBroker, body: object) -> None:
    status, answer = call(broker, "PATCH", "/v2/account/configurations", body)
    assert (status, answer["code"]) == (422, 40010001)


def test_assets(trading: TradingClient, broker: MockBroker) -> None:
    assets = trading.get_all_assets()
    assert [a.symbol for a in assets] == ["AAPL", "MSFT"]
    assert all(a.tradable and a.shortable and a.fractionable and a.easy_to_borrow for a in assets)
    assert trading.get_all_assets(GetAssetsRequest(asset_class=AssetClass.CRYPTO)) == []
    assert trading.get_all_assets(GetAssetsRequest(status=AssetStatus.INACTIVE)) == []
    assert [a.symbol for a in trading.get_all_assets(GetAssetsRequest(exchange=AssetExchange.NASDAQ))] == [
        "AAPL",
        "MSFT",
    ]
    aapl = trading.get_asset("AAPL")
    assert trading.get_asset(aapl.id).symbol == "AAPL"
    with pytest.raises(APIError) as error:
        trading.get_asset(uuid.uuid4())
    assert refusal(error)[:2] == (404, 40410000)
    assert call(broker, "GET", "/v2/assets?status=dormant")[0] == 422


def test_fill_activities_page_as_alpaca(trading: TradingClient, broker: MockBroker) -> None:
    orders = [
        trading.submit_order(MarketOrderRequest(symbol=s, qty=1, side="buy", time_in_force="day"))
        for s in ("AAPL", "MSFT", "AAPL")
    ]
    status, everything = call(broker, "GET", "/v2/account/activities")
    assert status == 200 and [a["order_id"] for a in everything] == [str(o.id) for o in reversed(orders)]
    fill = everything[0]
    assert fill["activity_type"] == "FILL" and fill["type"] == "fill" and fill["leaves_qty"] == "0"
    assert fill["price"] == orders[-1].filled_avg_price and fill["cum_qty"] == "1" and "::" in fill["id"]
    status, first = call(broker, "GET", "/v2/account/activities/FILL?page_size=2&direction=asc")
    assert [a["order_id"] for a in first] == [str(o.id) for o in orders[:2]]
    status, rest = call(
        broker, "GET", f"/v2/account/activities/FILL?page_size=2&direction=asc&page_token={first[-1]['id']}"
    )
    assert [a["order_id"] for a in rest] == [str(orders[2].id)]
    assert call(broker, "GET", "/v2/account/activities?activity_types=DIV,CSD")[1] == []
    for query in (
        "activity_types=NOPE",
        "page_size=101",
        "page_token=nope",
        "direction=up",
        "date=2026-13-01",
    ):
        assert call(broker, "GET", f"/v2/account/activities?{query}")[0] == 422, query
    assert call(broker, "GET", "/v2/account/activities/BOGUS")[0] == 422
