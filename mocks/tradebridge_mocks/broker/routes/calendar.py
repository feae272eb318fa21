"""``GET /v2/clock`` and ``GET /v2/calendar`` from the broker's clock and NYSE calendar (:mod:`..clock`),
and the admin side of the clock: ``POST /admin/clock`` and ``POST /admin/session``."""

from __future__ import annotations

import bisect
from datetime import date, datetime
from functools import lru_cache

from aiohttp import web

from tradebridge_mocks.broker import session
from tradebridge_mocks.broker.clock import FIRST_DAY, LAST_DAY, NEW_YORK, Calendar, ManualClock, TradingDay
from tradebridge_mocks.broker.engine import Refusal, invalid
from tradebridge_mocks.broker.routes.common import answer, json_body, state


@lru_cache(maxsize=1)
def _all_days() -> tuple[list[date], list[TradingDay]]:
    days = Calendar().days(FIRST_DAY, LAST_DAY)
    return [d.date for d in days], days


def _date(request: web.Request, name: str, default: date) -> date:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw[:10]) if len(raw) >= 10 else date.fromisoformat(raw)
    except ValueError:
        raise invalid(f"invalid {name}: {raw!r} is not a date (YYYY-MM-DD)") from None


async def get_calendar(request: web.Request) -> web.Response:
    start = _date(request, "start", FIRST_DAY)
    end = _date(request, "end", LAST_DAY)
    date_type = request.query.get("date_type", "TRADING")
    if date_type not in ("TRADING", "SETTLEMENT"):
        raise invalid(f"invalid date_type: {date_type!r}")
    dates, days = _all_days()
    if date_type == "TRADING":
        selected = days[bisect.bisect_left(dates, start) : bisect.bisect_right(dates, end)]
    else:
        selected = [d for d in days if start <= date.fromisoformat(d.to_json()["settlement_date"]) <= end]
    return answer([d.to_json() for d in selected])


async def get_clock(request: web.Request) -> web.Response:
    engine = state(request).engine
    now = engine.clock.now()
    # /v2/clock tells NYSE's session in every mode (always-open trades at any hour, the clock does not lie)
    calendar = Calendar()
    next_open, next_close = calendar.next_edges(now)
    return answer(
        {
            "timestamp": now.astimezone(NEW_YORK).isoformat(),
            "is_open": calendar.phase(now) == "regular",
            "next_open": next_open.isoformat(),
            "next_close": next_close.isoformat(),
        }
    )


async def admin_clock(request: web.Request) -> web.Response:
    """``{"time": "2026-03-02T14:30:00Z"}`` or ``{"advance_s": 3600}``: move a manual or replay clock (never
    backwards) and play the session edges on the way; answers the time and the edges played."""
    engine = state(request).engine
    body = await json_body(request, required=False)
    clock = engine.clock
    if not isinstance(clock, ManualClock):
        raise Refusal(
            409, 40910000, "the broker runs on the wall clock: start it with --clock-start to set time"
        )
    if not isinstance(body, dict):
        raise invalid("body must be a JSON object")
    with engine.lock:
        if "time" in body:
            try:
                moment = datetime.fromisoformat(str(body["time"]).replace("Z", "+00:00"))
            except ValueError:
                raise invalid(f"invalid time: {body['time']!r}") from None
            if moment.tzinfo is None:
                raise invalid("time must carry a UTC offset")
            clock.set(moment)
        if "advance_s" in body:
            try:
                clock.advance(float(body["advance_s"]))
            except (TypeError, ValueError):
                raise invalid(f"invalid advance_s: {body['advance_s']!r}") from None
        played = session.play(engine)
        return answer({"time": clock.now().isoformat(), "edges": played})


async def admin_session(request: web.Request) -> web.Response:
    """``{"event": "open"|"close"|"post_close"}``: play one session edge now (the auctions and expiries of an
    ``always-open`` broker, which has no edges of its own)."""
    engine = state(request).engine
    body = await json_body(request)
    event = body.get("event") if isinstance(body, dict) else None
    if event not in ("open", "close", "post_close"):
        raise invalid("event must be open, close or post_close")
    with engine.lock:
        before = {o.id: o.status for o in engine.account.orders.values()}
        session.edge(engine, event)
        engine.on_prices_locked()
        changed = [o.id for o in engine.account.orders.values() if before.get(o.id) != o.status]
        return answer({"event": event, "changed": changed})


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/v2/clock", get_clock)
    router.add_get("/v2/calendar", get_calendar)
    router.add_post("/admin/clock", admin_clock)
    router.add_post("/admin/session", admin_session)
