"""The adapter's typed results: frozen dataclasses that also read like the dicts of the guide.

``order["id"]``, ``quote["bid_price"]`` and ``metrics.cash`` all work: every record is a read-only
``Mapping`` of its fields. Money is ``Decimal`` (exactly what Alpaca sent); quotes are floats as Alpaca's
market-data API sends them. Position P&L is derived from the signed quantity (negative for shorts, whatever
sign the broker used for ``qty``), so it is right for short positions too.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tradebridge.contracts import OrderUpdate

ZERO = Decimal(0)
_FRACTION_RE = re.compile(r"\.(\d+)")
HUNDRED = Decimal(100)


class _Record(Mapping[str, Any]):
    """Mapping access to a dataclass's fields (``record["name"]``, ``dict(record)``)."""

    def __getitem__(self, key: str) -> Any:
        if key in self._field_names():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._field_names())

    def __len__(self) -> int:
        return len(self._field_names())

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._field_names()}


def dec(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    text = str(value).replace("Z", "+00:00")
    match = _FRACTION_RE.search(text)
    if match:  # Alpaca sends nanoseconds; datetime keeps microseconds
        text = text[: match.start()] + "." + match.group(1)[:6] + text[match.end() :]
    return datetime.fromisoformat(text)


@dataclass(frozen=True, eq=True)
class OrderInfo(_Record):
    """An order as the broker reports it (or, from ``validate_only``, as it would be sent: ``id`` None)."""

    id: str | None
    client_order_id: str
    symbol: str
    side: str
    order_type: str
    time_in_force: str
    status: str | None
    qty: Decimal | None
    notional: Decimal | None
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    trail_price: Decimal | None
    trail_percent: Decimal | None
    extended_hours: bool
    created_at: datetime | None
    updated_at: datetime | None
    submitted_at: datetime | None
    filled_at: datetime | None
    validated: bool = True
    submitted: bool = True

    @property
    def is_open(self) -> bool:
        return self.status in {
            "new",
            "accepted",
            "pending_new",
            "partially_filled",
            "held",
            "accepted_for_bidding",
        }

    def to_order_update(self) -> OrderUpdate:
        """This order as the bus contract ``OrderUpdate`` (topic ``order``), validated against it."""
        from tradebridge.contracts import OrderUpdate, validate

        if self.id is None or self.status is None:
            raise ValueError("a validate_only order was never sent: it has no OrderUpdate")
        optional: dict[str, Any] = {}
        if self.order_type:
            optional["order_type"] = self.order_type
        if self.time_in_force:
            optional["time_in_force"] = self.time_in_force
        if self.limit_price is not None:
            optional["limit_price"] = float(self.limit_price)
        if self.stop_price is not None:
            optional["stop_price"] = float(self.stop_price)
        moment = self.updated_at or self.submitted_at or datetime.now(UTC)
        qty = self.qty if self.qty is not None else self.filled_qty
        return validate(
            OrderUpdate(
                order_id=self.id,
                client_order_id=self.client_order_id,
                symbol=self.symbol,
                side=self.side,  # type: ignore[arg-type]
                qty=float(qty),
                filled_qty=float(self.filled_qty),
                filled_avg_price=None if self.filled_avg_price is None else float(self.filled_avg_price),
                status=self.status,  # type: ignore[arg-type]
                timestamp=int(moment.timestamp() * 1000),
                **optional,
            )
        )

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> OrderInfo:
        return cls(
            id=str(raw["id"]),
            client_order_id=str(raw["client_order_id"]),
            symbol=str(raw.get("symbol") or ""),
            side=str(raw.get("side") or ""),
            order_type=str(raw.get("order_type") or raw.get("type") or ""),
            time_in_force=str(raw.get("time_in_force") or ""),
            status=str(raw["status"]),
            qty=dec(raw.get("qty")),
            notional=dec(raw.get("notional")),
            filled_qty=dec(raw.get("filled_qty")) or ZERO,
            filled_avg_price=dec(raw.get("filled_avg_price")),
            limit_price=dec(raw.get("limit_price")),
            stop_price=dec(raw.get("stop_price")),
            trail_price=dec(raw.get("trail_price")),
            trail_percent=dec(raw.get("trail_percent")),
            extended_hours=bool(raw.get("extended_hours", False)),
            created_at=parse_time(raw.get("created_at")),
            updated_at=parse_time(raw.get("updated_at")),
            submitted_at=parse_time(raw.get("submitted_at")),
            filled_at=parse_time(raw.get("filled_at")),
        )


@dataclass(frozen=True, eq=True)
class PositionInfo(_Record):
    """One open position. ``qty`` is signed (negative when short); ``unrealized_pl_pct`` is in percent."""

    symbol: str
    side: str
    qty: Decimal
    avg_entry_price: Decimal
    current_price: Decimal
    market_value: Decimal
    cost_basis: Decimal
    unrealized_pl: Decimal
    unrealized_pl_pct: Decimal
    asset_id: str | None
    timestamp: datetime

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PositionInfo:
        side = str(raw.get("side") or "long").lower()
        quantity = abs(Decimal(str(raw["qty"])))
        qty = -quantity if side == "short" else quantity  # the sign from `side`, however qty was sent
        avg = Decimal(str(raw["avg_entry_price"]))
        current = dec(raw.get("current_price"))
        if current is None:
            market_value = dec(raw.get("market_value"))
            current = abs(market_value / qty) if market_value is not None and qty else avg
        cost_basis = qty * avg
        market_value_ = qty * current
        pl = market_value_ - cost_basis
        pct = (pl / abs(cost_basis) * HUNDRED) if cost_basis else ZERO
        return cls(
            symbol=str(raw["symbol"]),
            side=side,
            qty=qty,
            avg_entry_price=avg,
            current_price=current,
            market_value=market_value_,
            cost_basis=cost_basis,
            unrealized_pl=pl,
            unrealized_pl_pct=pct.quantize(Decimal("0.0001")),
            asset_id=str(raw["asset_id"]) if raw.get("asset_id") else None,
            timestamp=datetime.now(UTC),
        )


@dataclass(frozen=True, eq=True)
class AccountInfo(_Record):
    account_number: str
    status: str
    currency: str
    cash: Decimal
    equity: Decimal
    portfolio_value: Decimal
    buying_power: Decimal
    last_equity: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    multiplier: Decimal
    shorting_enabled: bool
    trading_blocked: bool
    transfers_blocked: bool
    account_blocked: bool
    created_at: datetime | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AccountInfo:
        def money(name: str) -> Decimal:
            return dec(raw.get(name)) or ZERO

        return cls(
            account_number=str(raw.get("account_number", "")),
            status=str(raw.get("status", "")),
            currency=str(raw.get("currency") or "USD"),
            cash=money("cash"),
            equity=money("equity"),
            portfolio_value=dec(raw.get("portfolio_value")) or money("equity"),
            buying_power=money("buying_power"),
            last_equity=money("last_equity"),
            long_market_value=money("long_market_value"),
            short_market_value=money("short_market_value"),
            initial_margin=money("initial_margin"),
            maintenance_margin=money("maintenance_margin"),
            multiplier=dec(raw.get("multiplier")) or Decimal(1),
            shorting_enabled=bool(raw.get("shorting_enabled", False)),
            trading_blocked=bool(raw.get("trading_blocked", False)),
            transfers_blocked=bool(raw.get("transfers_blocked", False)),
            account_blocked=bool(raw.get("account_blocked", False)),
            created_at=parse_time(raw.get("created_at")),
        )


@dataclass(frozen=True, eq=True)
class PortfolioMetrics(_Record):
    """The guide's portfolio summary. ``total_pl`` is the unrealized P&L of the open positions (longs and
    shorts); ``total_pl_pct`` relates it to their absolute cost basis, in percent. ``day_pl`` is
    ``equity - last_equity`` (realized and unrealized since the previous close)."""

    cash: Decimal
    total_equity: Decimal
    portfolio_value: Decimal
    buying_power: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    total_pl: Decimal
    total_pl_pct: Decimal
    day_pl: Decimal
    day_pl_pct: Decimal
    positions_count: int
    timestamp: datetime

    @property
    def equity(self) -> Decimal:
        return self.total_equity


@dataclass(frozen=True, eq=True)
class Quote(_Record):
    symbol: str
    bid_price: float
    ask_price: float
    mid_price: float
    bid_size: float
    ask_size: float
    timestamp: datetime | None

    @property
    def spread(self) -> float:
        return self.ask_price - self.bid_price


@dataclass(frozen=True, eq=True)
class ClosePositionResult(_Record):
    """One line of ``close_all_positions``: the closing order, or the broker's refusal for that symbol."""

    symbol: str
    status: int
    order: OrderInfo | None
    error_code: int | None
    error_message: str | None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300 and self.order is not None
