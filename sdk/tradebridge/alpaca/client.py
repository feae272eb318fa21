"""``AlpacaPaperTrading``: the guide's paper-trading client, built on alpaca-py.

alpaca-py does the wire work (request models, headers, error parsing); this class adds what a strategy needs
to run unattended: paper-only endpoints, local validation, a rate limit, timeouts, retries and idempotent
order submission. Results are the typed records of :mod:`tradebridge.alpaca._records`; failures are the
typed errors of :mod:`tradebridge.errors` and :mod:`tradebridge.alpaca._errors`.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest, StockLatestQuoteRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, QueryOrderStatus, TimeInForce
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)

from tradebridge.alpaca._config import (
    credentials_for,
    market_data_url,
    paper_trading_url,
    read_settings,
)
from tradebridge.alpaca._errors import (
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    NotFoundError,
    from_api_error,
    from_transport_error,
)
from tradebridge.alpaca._records import (
    HUNDRED,
    ZERO,
    AccountInfo,
    ClosePositionResult,
    OrderInfo,
    PortfolioMetrics,
    PositionInfo,
    Quote,
    dec,
    parse_time,
)
from tradebridge.alpaca._transport import RetryPolicy, TokenBucket, Transport
from tradebridge.alpaca._validation import SYMBOL_RE, OrderSpec, OrderType, validate_order
from tradebridge.errors import BrokerError, LiveTradingRefusedError, OrderValidationError

if TYPE_CHECKING:
    from tradebridge.contracts import BarUpdate

log = logging.getLogger("tradebridge.alpaca")
_TIMEFRAME_RE = re.compile(r"^(\d+)\s*(Min|Hour|Day|Week|Month)$", re.IGNORECASE)
_UNITS = {
    "min": TimeFrameUnit.Minute,
    "hour": TimeFrameUnit.Hour,
    "day": TimeFrameUnit.Day,
    "week": TimeFrameUnit.Week,
    "month": TimeFrameUnit.Month,
}


def _timeframe(value: TimeFrame | str) -> TimeFrame:
    if isinstance(value, TimeFrame):
        return value
    match = _TIMEFRAME_RE.match(str(value).strip())
    if not match:
        raise OrderValidationError(
            "invalid_timeframe",
            f"timeframe must look like 1Min, 15Min, 1Hour, 1Day, got {value!r}",
            "timeframe",
        )
    try:
        return TimeFrame(int(match.group(1)), _UNITS[match.group(2).lower()])
    except ValueError as exc:
        raise OrderValidationError("invalid_timeframe", str(exc), "timeframe") from None


def _check_symbol(symbol: Any) -> str:
    if not isinstance(symbol, str) or not SYMBOL_RE.match(symbol):
        raise OrderValidationError(
            "invalid_symbol", f"symbol must be an upper-case ticker such as AAPL, got {symbol!r}", "symbol"
        )
    return symbol


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _order_request(spec: OrderSpec) -> OrderRequest:
    common: dict[str, Any] = {
        "symbol": spec.symbol,
        "side": OrderSide(spec.side),
        "time_in_force": TimeInForce(spec.time_in_force),
        "client_order_id": spec.client_order_id,
        "qty": _float(spec.qty),
        "notional": _float(spec.notional),
    }
    if spec.extended_hours:
        common["extended_hours"] = True
    if spec.order_type is OrderType.MARKET:
        return MarketOrderRequest(**common)
    if spec.order_type is OrderType.LIMIT:
        return LimitOrderRequest(**common, limit_price=_float(spec.limit_price))
    if spec.order_type is OrderType.STOP:
        return StopOrderRequest(**common, stop_price=_float(spec.stop_price))
    if spec.order_type is OrderType.STOP_LIMIT:
        return StopLimitOrderRequest(
            **common, stop_price=_float(spec.stop_price), limit_price=_float(spec.limit_price)
        )
    return TrailingStopOrderRequest(
        **common, trail_price=_float(spec.trail_price), trail_percent=_float(spec.trail_percent)
    )


def _same_order(order: OrderInfo, spec: OrderSpec) -> bool:
    """Whether the order found under our client_order_id is the one we sent (and not an older, other one)."""
    return (
        order.symbol == spec.symbol
        and order.side == spec.side
        and order.order_type == spec.order_type.value
        and (spec.qty is None or order.qty == spec.qty)
        and (spec.notional is None or order.notional == spec.notional)
    )


class AlpacaPaperTrading:
    """Alpaca paper trading, safe by construction.

    * Only the paper endpoint or a loopback mock is ever contacted; ``paper=False`` or a live URL raises
      :class:`~tradebridge.errors.LiveTradingRefusedError` here, before any request.
    * Keys: arguments, else ``ALPACA_API_KEY``/``ALPACA_SECRET_KEY`` or ``APCA_API_KEY_ID``/
      ``APCA_API_SECRET_KEY`` from the environment or ``.env``. Endpoints: ``ALPACA_BASE_URL``,
      ``ALPACA_DATA_URL`` (defaults: the paper endpoint; the trading origin itself when it is loopback).
    * Every request waits for a token (``rate_limit_per_minute``, 200 like Alpaca's limit; ``None``
      disables), carries ``timeout`` seconds, and is retried on 429, 5xx and connection failures as
      ``retry`` says (honouring ``X-RateLimit-Reset``/``Retry-After``).
    * Every order carries a ``client_order_id`` (generated when not given), so a retried submission whose
      first attempt went through is answered with that first order, never a second one.
    """

    def __init__(
        self,
        api_key: str | None = None,
        secret_key: str | None = None,
        *,
        base_url: str | None = None,
        data_url: str | None = None,
        paper: bool = True,
        env_file: str | Path | None = None,
        timeout: float = 10.0,
        rate_limit_per_minute: int | None = 200,
        rate_limit_burst: int | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not paper:
            raise LiveTradingRefusedError("this adapter trades on paper only; paper=False is refused")
        settings = read_settings(env_file)
        self.base_url = paper_trading_url(
            base_url or settings.get("ALPACA_BASE_URL") or settings.get("APCA_API_BASE_URL")
        )
        self.data_url = market_data_url(data_url or settings.get("ALPACA_DATA_URL"), self.base_url)
        credentials = credentials_for(api_key, secret_key, env_file)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout

        def transport() -> Transport:
            kwargs: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
            limiter = (
                TokenBucket(rate_limit_per_minute, rate_limit_burst, **kwargs)
                if rate_limit_per_minute
                else None
            )
            return Transport(limiter, self.retry, timeout, rng=random.Random(), **kwargs)

        self._trading = TradingClient(
            credentials.api_key, credentials.secret_key, paper=True, raw_data=True, url_override=self.base_url
        )
        self._data = StockHistoricalDataClient(
            credentials.api_key, credentials.secret_key, raw_data=True, url_override=self.data_url
        )
        # Alpaca counts trading and market-data requests separately, so each API gets its own bucket.
        self._trading_transport = transport()
        self._data_transport = transport()
        for client, wrapper in ((self._trading, self._trading_transport), (self._data, self._data_transport)):
            client._retry = 0  # our Transport retries (with backoff and the reset header) instead
            wrapper.install(client._session)

    def __repr__(self) -> str:
        return f"AlpacaPaperTrading(base_url={self.base_url!r}, data_url={self.data_url!r})"

    @property
    def stats(self) -> dict[str, float]:
        """Request counters (``trading_requests``, ``data_retries``, ``trading_throttled_seconds``, ...);
        a mapping ``HealthCheck.track("alpaca", lambda: client.stats)`` can show on ``/health``."""
        out: dict[str, float] = {}
        for api, transport in (("trading", self._trading_transport), ("data", self._data_transport)):
            out.update({f"{api}_{name}": value for name, value in transport.stats.items()})
        return out

    # ------------------------------------------------------------------------------------------ calls
    def _call(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> Any:
        """Run one alpaca-py call and return its raw JSON (the clients run with ``raw_data=True``),
        translating failures; the originals are not chained (they hold the request, headers included)."""
        try:
            return fn(*args, **kwargs)
        except APIError as exc:
            raise from_api_error(exc) from None
        except requests.RequestException as exc:
            raise from_transport_error(exc) from None

    # ---------------------------------------------------------------------------------------- account
    def get_account_info(self) -> AccountInfo:
        return AccountInfo.from_json(self._call(self._trading.get_account))

    def get_clock(self) -> dict[str, Any]:
        raw = self._call(self._trading.get_clock)
        return {
            "timestamp": parse_time(raw["timestamp"]),
            "is_open": bool(raw["is_open"]),
            "next_open": parse_time(raw["next_open"]),
            "next_close": parse_time(raw["next_close"]),
        }

    def get_portfolio_metrics(self) -> PortfolioMetrics:
        account = self.get_account_info()
        positions = self.get_positions()
        total_pl = sum((p.unrealized_pl for p in positions), ZERO)
        invested = sum((abs(p.cost_basis) for p in positions), ZERO)
        day_pl = account.equity - account.last_equity
        return PortfolioMetrics(
            cash=account.cash,
            total_equity=account.equity,
            portfolio_value=account.portfolio_value,
            buying_power=account.buying_power,
            long_market_value=account.long_market_value,
            short_market_value=account.short_market_value,
            total_pl=total_pl,
            total_pl_pct=(total_pl / invested * HUNDRED).quantize(Decimal("0.0001")) if invested else ZERO,
            day_pl=day_pl,
            day_pl_pct=(day_pl / account.last_equity * HUNDRED).quantize(Decimal("0.0001"))
            if account.last_equity
            else ZERO,
            positions_count=len(positions),
            timestamp=datetime.now(UTC),
        )

    # ------------------------------------------------------------------------------------------ orders
    def place_order(
        self,
        symbol: str,
        qty: float | int | Decimal | str | None = None,
        side: str = "buy",
        order_type: OrderType | str = OrderType.MARKET,
        limit_price: float | Decimal | str | None = None,
        stop_price: float | Decimal | str | None = None,
        time_in_force: str = "day",
        validate_only: bool = False,
        *,
        client_order_id: str | None = None,
        notional: float | Decimal | str | None = None,
        trail_price: float | Decimal | str | None = None,
        trail_percent: float | Decimal | str | None = None,
        extended_hours: bool = False,
    ) -> OrderInfo:
        """Validate, then submit (unless ``validate_only``) one order; returns the broker's order.

        Retries after an ambiguous failure (timeout, 5xx) resend the same ``client_order_id``; if the first
        attempt had reached the broker, the broker refuses the duplicate and the first order is returned.
        """
        spec = validate_order(
            symbol=symbol,
            qty=qty,
            side=side,
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            time_in_force=time_in_force,
            client_order_id=client_order_id,
            notional=notional,
            trail_price=trail_price,
            trail_percent=trail_percent,
            extended_hours=extended_hours,
        )
        try:
            request = _order_request(spec)
        except ValueError as exc:  # alpaca-py's own model checks; ours should have caught everything
            raise OrderValidationError("invalid_order", str(exc).splitlines()[0], None) from None
        if validate_only:
            return self._preview(spec)
        try:
            raw: Any = self._trading.submit_order(request)
        except APIError as exc:
            error = from_api_error(exc)
            retried = self._trading_transport.attempts > 1
            if (isinstance(error, DuplicateClientOrderIdError) and retried) or error.status_code >= 500:
                found = self._find_submitted(spec)
                if found is not None:
                    return found
            raise error from None
        except requests.RequestException as exc:
            found = self._find_submitted(spec)
            if found is not None:
                return found
            raise from_transport_error(exc) from None
        order = OrderInfo.from_json(raw)
        log.info(
            "order %s %s %s %s: %s",
            order.client_order_id,
            spec.side,
            spec.qty or spec.notional,
            spec.symbol,
            order.status,
        )
        return order

    def _find_submitted(self, spec: OrderSpec) -> OrderInfo | None:
        """After an ambiguous failure: did our order reach the broker? (looked up by client_order_id)"""
        try:
            order = self.get_order_by_client_id(spec.client_order_id)
        except (NotFoundError, BrokerUnavailableError, BrokerError):
            return None
        if not _same_order(order, spec):
            raise DuplicateClientOrderIdError(
                422, 40010001, f"client_order_id {spec.client_order_id!r} belongs to a different order"
            )
        log.info("order %s had reached the broker before the failure; not resubmitted", spec.client_order_id)
        return order

    @staticmethod
    def _preview(spec: OrderSpec) -> OrderInfo:
        return OrderInfo(
            id=None,
            client_order_id=spec.client_order_id,
            symbol=spec.symbol,
            side=spec.side,
            order_type=spec.order_type.value,
            time_in_force=spec.time_in_force,
            status=None,
            qty=spec.qty,
            notional=spec.notional,
            filled_qty=ZERO,
            filled_avg_price=None,
            limit_price=spec.limit_price,
            stop_price=spec.stop_price,
            trail_price=spec.trail_price,
            trail_percent=spec.trail_percent,
            extended_hours=spec.extended_hours,
            created_at=None,
            updated_at=None,
            submitted_at=None,
            filled_at=None,
            validated=True,
            submitted=False,
        )

    def get_order(self, order_id: str) -> OrderInfo:
        self._check_order_id(order_id)
        return OrderInfo.from_json(self._call(self._trading.get_order_by_id, order_id))

    def get_order_by_client_id(self, client_order_id: str) -> OrderInfo:
        return OrderInfo.from_json(self._call(self._trading.get_order_by_client_id, client_order_id))

    def get_orders(
        self,
        status: str = "open",
        limit: int = 100,
        symbols: list[str] | None = None,
        side: str | None = None,
    ) -> list[OrderInfo]:
        if status not in ("open", "closed", "all"):
            raise OrderValidationError(
                "invalid_status", f"status must be open, closed or all, got {status!r}", "status"
            )
        if not 1 <= limit <= 500:
            raise OrderValidationError("invalid_limit", "limit must be between 1 and 500", "limit")
        request = GetOrdersRequest(
            status=QueryOrderStatus(status),
            limit=limit,
            symbols=[_check_symbol(s) for s in symbols] if symbols else None,
            side=OrderSide(side) if side else None,
        )
        return [OrderInfo.from_json(raw) for raw in self._call(self._trading.get_orders, request)]

    @staticmethod
    def _check_order_id(order_id: str) -> None:
        import uuid

        try:
            uuid.UUID(str(order_id))
        except ValueError:
            raise OrderValidationError(
                "invalid_order_id", f"order id must be a UUID, got {order_id!r}", "order_id"
            ) from None

    def cancel_order(self, order_id: str) -> bool:
        """Cancel one open order. An order that is already canceled because our retried request went
        through the first time counts as success."""
        self._check_order_id(order_id)
        try:
            self._call(self._trading.cancel_order_by_id, order_id)
        except BrokerError as error:
            if (
                error.status_code == 422
                and self._trading_transport.attempts > 1
                and '"canceled"' in error.message
            ):
                return True
            raise
        return True

    def cancel_all_orders(self) -> int:
        return len(self._call(self._trading.cancel_orders) or [])

    # --------------------------------------------------------------------------------------- positions
    def get_positions(self) -> list[PositionInfo]:
        return [PositionInfo.from_json(raw) for raw in self._call(self._trading.get_all_positions)]

    def get_position(self, symbol: str) -> PositionInfo:
        return PositionInfo.from_json(self._call(self._trading.get_open_position, _check_symbol(symbol)))

    def close_position(
        self,
        symbol: str,
        qty: float | int | Decimal | str | None = None,
        percentage: float | int | Decimal | str | None = None,
    ) -> OrderInfo:
        """Liquidate a position, or ``qty`` shares of it, or ``percentage`` percent of it, at market."""
        _check_symbol(symbol)
        if qty is not None and percentage is not None:
            raise OrderValidationError("qty_or_percentage", "give qty or percentage, not both", "qty")
        options = None
        if qty is not None:
            value = dec(qty)
            if value is None or value <= 0:
                raise OrderValidationError("not_positive", f"qty must be > 0, got {qty!r}", "qty")
            options = ClosePositionRequest(qty=str(value))
        elif percentage is not None:
            value = dec(percentage)
            if value is None or not ZERO < value <= HUNDRED:
                raise OrderValidationError(
                    "invalid_percentage", "percentage must be in (0, 100]", "percentage"
                )
            options = ClosePositionRequest(percentage=str(value))
        return OrderInfo.from_json(self._call(self._trading.close_position, symbol, options))

    def close_all_positions(self, cancel_orders: bool = True) -> list[ClosePositionResult]:
        """Liquidate every position (after canceling every open order, by default)."""
        results = []
        for item in self._call(self._trading.close_all_positions, cancel_orders=cancel_orders or None) or []:
            body = item.get("body") or {}
            status = int(item.get("status") or 0)
            is_order = "id" in body and "client_order_id" in body
            results.append(
                ClosePositionResult(
                    symbol=str(item.get("symbol") or body.get("symbol") or ""),
                    status=status,
                    order=OrderInfo.from_json(body) if is_order else None,
                    error_code=None if is_order else body.get("code"),
                    error_message=None if is_order else body.get("message"),
                )
            )
        return results

    # ------------------------------------------------------------------------------------ market data
    def get_latest_quote(self, symbol: str) -> Quote:
        request = StockLatestQuoteRequest(symbol_or_symbols=_check_symbol(symbol))
        raw = self._call(self._data.get_stock_latest_quote, request).get(symbol)
        if not raw:
            raise NotFoundError(404, 40410000, f"no quote for {symbol}")
        bid, ask = float(raw["bp"]), float(raw["ap"])
        return Quote(
            symbol=symbol,
            bid_price=bid,
            ask_price=ask,
            mid_price=(bid + ask) / 2,
            bid_size=float(raw["bs"]),
            ask_size=float(raw["as"]),
            timestamp=parse_time(raw.get("t")),
        )

    def get_historical_bars(
        self,
        symbol: str,
        start: datetime,
        end: datetime | None = None,
        timeframe: TimeFrame | str = "1Day",
        limit: int | None = None,
        feed: str | None = None,
    ) -> list[BarUpdate]:
        """Bars of ``symbol`` as our ``BarUpdate`` contracts (timestamps in epoch milliseconds), each checked
        against the contract, so a bar that breaks it raises ``ContractError`` here, not in a strategy."""
        from tradebridge.contracts import BarUpdate, validate

        request = StockBarsRequest(
            symbol_or_symbols=_check_symbol(symbol),
            timeframe=_timeframe(timeframe),
            start=start,
            end=end,
            limit=limit,
            feed=DataFeed(feed) if feed else None,
        )
        raw = self._call(self._data.get_stock_bars, request)
        bars = []
        for item in raw.get(symbol, []):
            moment = parse_time(item["t"])
            assert moment is not None
            optional: dict[str, Any] = {}
            if item.get("vw") is not None:
                optional["vwap"] = float(item["vw"])
            if item.get("n") is not None:
                optional["trade_count"] = int(item["n"])
            bars.append(
                validate(
                    BarUpdate(
                        symbol=symbol,
                        open=float(item["o"]),
                        high=float(item["h"]),
                        low=float(item["l"]),
                        close=float(item["c"]),
                        volume=float(item["v"]),
                        timestamp=int(moment.timestamp() * 1000),
                        **optional,
                    )
                )
            )
        return bars
