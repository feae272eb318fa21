"""``GET /v2/account/portfolio/history``: the account's own equity over time.

The engine notes the equity of every minute in which prices moved or an order was placed (``equity_log``);
a point of the history is the equity at the end of its window, carried forward from the last note (and the
initial cash before the account's first note). Periods are ``<n>D``, ``<n>W``, ``<n>M`` or ``<n>A``;
timeframes ``1Min``, ``5Min``, ``15Min``, ``1H`` and ``1D``; as Alpaca, intraday timeframes serve periods of
less than 30 days (422 otherwise), the default timeframe follows the period (1Min under 7 days, 15Min under
30, 1D beyond), and ``start``/``end``/``date_end`` bound the window. ``base_value`` is the equity at the
window's start; ``profit_loss`` and ``profit_loss_pct`` are measured from it. Timestamps are epoch seconds.
"""

from __future__ import annotations

import bisect
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aiohttp import web

from tradebridge_mocks.broker import marketdata
from tradebridge_mocks.broker.engine import Refusal, invalid
from tradebridge_mocks.broker.routes.common import answer, state

_PERIOD_RE = re.compile(r"^([1-9][0-9]{0,3})([DWMA])$")
_PERIOD_DAYS = {"D": 1, "W": 7, "M": 30, "A": 365}
_TIMEFRAMES = {"1Min": 60, "5Min": 300, "15Min": 900, "1H": 3600, "1D": 86400}
MAX_POINTS = 50_000


def _time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return datetime.fromtimestamp(marketdata.parse_time(raw, name) / 1000, UTC)
    except Refusal as refusal:
        raise invalid(refusal.message) from None


async def portfolio_history(request: web.Request) -> web.Response:
    query = request.query
    period = query.get("period")
    days: int | None = None
    if period is not None:
        match = _PERIOD_RE.match(period)
        if not match:
            raise invalid(f"invalid period: {period!r} (expected <n>D, <n>W, <n>M or <n>A)")
        days = int(match.group(1)) * _PERIOD_DAYS[match.group(2)]
    start, end = _time(request, "start"), _time(request, "end")
    if "date_end" in query:
        try:
            day = datetime.fromisoformat(query["date_end"][:10]).replace(tzinfo=UTC)
        except ValueError:
            raise invalid(f"invalid date_end: {query['date_end']!r}") from None
        end = end or day + timedelta(days=1)
    for name in ("extended_hours",):
        if name in query and query[name].lower() not in ("true", "false"):  # alpaca-py sends "True"
            raise invalid(f"invalid {name}: {query[name]!r}")
    if query.get("intraday_reporting", "market_hours") not in (
        "market_hours",
        "extended_hours",
        "continuous",
    ):
        raise invalid(f"invalid intraday_reporting: {query['intraday_reporting']!r}")
    if query.get("pnl_reset", "per_day") not in ("per_day", "no_reset"):
        raise invalid(f"invalid pnl_reset: {query['pnl_reset']!r}")

    engine = state(request).engine
    with engine.lock:
        now = engine.clock.now()
        log = list(engine.account.equity_log)
        initial = engine.options.initial_cash
        if end is None:
            end = now
        try:
            if start is None:
                start = end - timedelta(days=days if days is not None else 30)
            elif days is not None and "end" not in query:
                end = start + timedelta(days=days)
        except OverflowError:  # before year 1 or after 9999: no account is that old
            raise invalid("the window leaves the calendar (period too long)") from None
    end = min(end, now)  # no points in the future
    span_days = (end - start).total_seconds() / 86400
    timeframe = query.get("timeframe") or ("1Min" if span_days < 7 else "15Min" if span_days < 30 else "1D")
    if timeframe not in _TIMEFRAMES:
        raise invalid(f"invalid timeframe: {timeframe!r} (expected {', '.join(_TIMEFRAMES)})")
    step = _TIMEFRAMES[timeframe]
    if step < 86400 and span_days > 30:
        raise invalid("intraday timeframes are available for periods of less than 30 days")
    if end < start:
        raise invalid("end must not be before start")
    first = int(start.timestamp()) // step * step
    points = range(first, int(end.timestamp()) + 1, step)
    if len(points) > MAX_POINTS:
        raise invalid(f"the window holds more than {MAX_POINTS} points; narrow it or widen the timeframe")
    minutes = [m for m, _ in log]

    def equity_at(moment: int) -> Decimal:
        index = bisect.bisect_right(minutes, moment) - 1
        return log[index][1] if index >= 0 else initial

    equity = [equity_at(t + step - 1) for t in points]
    base = equity_at(first - 1) if equity else Decimal(0)
    return answer(
        {
            "timestamp": list(points),
            "equity": [float(e.quantize(Decimal("0.01"))) for e in equity],
            "profit_loss": [float((e - base).quantize(Decimal("0.01"))) for e in equity],
            "profit_loss_pct": [float((e - base) / base) if base else None for e in equity],
            "base_value": float(base.quantize(Decimal("0.01"))),
            "base_value_asof": start.date().isoformat(),
            "timeframe": timeframe,
            "cashflow": {},
        }
    )


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/v2/account/portfolio/history", portfolio_history)
