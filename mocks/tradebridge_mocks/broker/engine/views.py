"""The account as ``GET /v2/account`` answers it."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradebridge_mocks.broker.engine.model import money
from tradebridge_mocks.broker.prices import CENT

if TYPE_CHECKING:
    from tradebridge_mocks.broker.engine.core import PaperEngine


def account_json(engine: PaperEngine) -> dict[str, Any]:
    with engine.lock:
        account = engine.account
        long_mv, short_mv = engine.market_values()
        equity = account.cash + long_mv + short_mv
        buying_power = money(engine.buying_power())
        return {
            "id": account.id,
            "account_number": account.number,
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "buying_power": buying_power,
            "regt_buying_power": buying_power,
            "non_marginable_buying_power": buying_power,
            "options_buying_power": buying_power,
            "cash": money(account.cash.quantize(CENT)),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "portfolio_value": money(equity.quantize(CENT)),
            "equity": money(equity.quantize(CENT)),
            "last_equity": money(account.last_equity),
            "long_market_value": money(long_mv.quantize(CENT)),
            "short_market_value": money(short_mv.quantize(CENT)),
            "initial_margin": money((long_mv - short_mv).quantize(CENT)),
            "maintenance_margin": money(((long_mv - short_mv) * Decimal("0.3")).quantize(CENT)),
            "last_maintenance_margin": "0",
            "sma": "0",
            "multiplier": "1",
            "shorting_enabled": not engine.configuration["no_shorting"],
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "trade_suspended_by_user": engine.configuration["suspend_trade"],
            "created_at": account.created_at,
            "options_approved_level": 0,
            "options_trading_level": 0,
            # Alpaca dropped the PDT fields from its schema on 2026-07-06 (alpaca.md); clients written
            # before still read them, so they carry what a cash account without day trades reports
            "pattern_day_trader": False,
            "daytrade_count": 0,
            "daytrading_buying_power": "0",
            "bod_dtbp": "0",
            "effective_buying_power": buying_power,
            "balance_asof": account.created_at[:10],
            "crypto_tier": 0,
            "intraday_adjustments": "0",
            "pending_reg_taf_fees": "0",
            "admin_configurations": {},
            "user_configurations": None,
        }
