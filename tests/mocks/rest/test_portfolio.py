"""``GET /v2/account/portfolio/history`` from the account's own equity, on a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alpaca.common.exceptions import APIError
from alpaca.trading.requests import GetPortfolioHistoryRequest, MarketOrderRequest
from tradebridge_mocks.broker import MockBroker

from tests.mocks.rest.conftest import call, client_for, refusal

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_history_follows_the_equity() -> None:
    with MockBroker(seed=3, symbols=("AAPL",), clock_start=START) as broker:
        broker.advance(1)
        trading = client_for(broker)
        trading.submit_order(MarketOrderRequest(symbol="AAPL", qty=100, side="buy", time_in_force="day"))
        broker.set_time(START + timedelta(minutes=10))
        broker.set_price("AAPL", broker.state.prices.last("AAPL") + 1)  # +$100 on the position
        broker.set_time(START + timedelta(minutes=30))
        history = trading.get_portfolio_history(GetPortfolioHistoryRequest(period="1D", timeframe="5Min"))
        assert history.timeframe == "5Min" and history.base_value == 100_000
        assert history.timestamp[-1] == int((START + timedelta(minutes=30)).timestamp())
        assert all(b - a == 300 for a, b in zip(history.timestamp, history.timestamp[1:], strict=False))
        at_start = history.timestamp.index(int(START.timestamp()))
        assert history.equity[at_start - 1] == 100_000  # before the trade: the initial cash
        assert 99_990 < history.equity[at_start] < 100_000  # bought at the ask: the spread
        assert history.equity[-1] == pytest.approx(history.equity[at_start] + 100, abs=0.01)
        assert history.profit_loss[-1] == pytest.approx(history.equity[-1] - 100_000, abs=0.01)
        daily = trading.get_portfolio_history(GetPortfolioHistoryRequest(period="1A", timeframe="1D"))
        assert len(daily.timestamp) == 366 and daily.equity[-1] == history.equity[-1]
        default = trading.get_portfolio_history()
        assert default.timeframe == "1D"  # a month by default, and a month is daily

        with pytest.raises(APIError) as error:
            trading.get_portfolio_history(GetPortfolioHistoryRequest(period="3M", timeframe="1Min"))
        assert refusal(error)[:2] == (422, 40010001)
        for query in ("period=1Y", "timeframe=2H", "start=yesterday", "pnl_reset=sometimes"):
            assert call(broker, "GET", f"/v2/account/portfolio/history?{query}")[0] == 422
