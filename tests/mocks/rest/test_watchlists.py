"""Watchlists through alpaca-py (by id) and raw HTTP (by name, which alpaca-py does not call)."""

from __future__ import annotations

import uuid

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.requests import CreateWatchlistRequest, UpdateWatchlistRequest
from tradebridge_mocks.broker import MockBroker

from tests.mocks.rest.conftest import call, refusal


def test_watchlist_life_cycle_by_id(trading: TradingClient) -> None:
    created = trading.create_watchlist(CreateWatchlistRequest(name="tech", symbols=["AAPL", "MSFT"]))
    assert [a.symbol for a in created.assets or []] == ["AAPL", "MSFT"]
    assert [w.name for w in trading.get_watchlists()] == ["tech"]
    assert trading.get_watchlists()[0].assets is None  # the list omits assets, as Alpaca's does
    added = trading.add_asset_to_watchlist_by_id(created.id, "NVDA")
    assert [a.symbol for a in added.assets or []] == ["AAPL", "MSFT", "NVDA"]
    removed = trading.remove_asset_from_watchlist_by_id(created.id, "AAPL")
    assert [a.symbol for a in removed.assets or []] == ["MSFT", "NVDA"]
    renamed = trading.update_watchlist_by_id(
        created.id, UpdateWatchlistRequest(name="chips", symbols=["NVDA"])
    )
    assert renamed.name == "chips" and [a.symbol for a in renamed.assets or []] == ["NVDA"]
    assert trading.get_watchlist_by_id(created.id).updated_at >= created.updated_at
    trading.delete_watchlist_by_id(created.id)
    assert trading.get_watchlists() == []
    with pytest.raises(APIError) as error:
        trading.get_watchlist_by_id(created.id)
    assert refusal(error)[:2] == (404, 40410000)


def test_watchlist_refusals(trading: TradingClient, broker: MockBroker) -> None:
    created = trading.create_watchlist(CreateWatchlistRequest(name="one", symbols=["AAPL"]))
    with pytest.raises(APIError) as error:
        trading.create_watchlist(CreateWatchlistRequest(name="one", symbols=[]))
    assert refusal(error)[:2] == (422, 40010001)
    with pytest.raises(APIError) as error:
        trading.add_asset_to_watchlist_by_id(created.id, "AAPL")
    assert refusal(error)[:2] == (422, 40010001)
    with pytest.raises(APIError) as error:
        trading.remove_asset_from_watchlist_by_id(created.id, "MSFT")
    assert refusal(error)[:2] == (404, 40410000)
    with pytest.raises(APIError) as error:
        trading.get_watchlist_by_id(uuid.uuid4())
    assert refusal(error)[:2] == (404, 40410000)
    for body in ({"name": "x" * 65}, {"name": "bad", "symbols": ["not a symbol"]}, {"name": 3}, [1]):
        assert call(broker, "POST", "/v2/watchlists", body)[0] == 422
    assert call(broker, "PUT", f"/v2/watchlists/{created.id}", {})[0] == 422


def test_watchlists_by_name(broker: MockBroker) -> None:
    status, created = call(broker, "POST", "/v2/watchlists", {"name": "my list", "symbols": ["AAPL"]})
    assert status == 200
    status, found = call(broker, "GET", "/v2/watchlists:by_name?name=my%20list")
    assert (status, found["id"]) == (200, created["id"])
    status, added = call(broker, "POST", "/v2/watchlists:by_name?name=my%20list", {"symbol": "MSFT"})
    assert [a["symbol"] for a in added["assets"]] == ["AAPL", "MSFT"]
    status, removed = call(broker, "DELETE", "/v2/watchlists:by_name/AAPL?name=my%20list")
    assert [a["symbol"] for a in removed["assets"]] == ["MSFT"]
    status, updated = call(broker, "PUT", "/v2/watchlists:by_name?name=my%20list", {"name": "renamed"})
    assert updated["name"] == "renamed"
    assert call(broker, "GET", "/v2/watchlists:by_name?name=my%20list")[0] == 404
    assert call(broker, "GET", "/v2/watchlists:by_name")[0] == 422
    assert call(broker, "DELETE", "/v2/watchlists:by_name?name=renamed") == (204, None)
    assert call(broker, "GET", "/v2/watchlists")[1] == []
