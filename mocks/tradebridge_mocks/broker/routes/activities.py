"""``GET /v2/account/activities`` and ``GET /v2/account/activities/{activity_type}``.

The account produces one kind of activity: ``FILL`` (every execution, partial or full, as the trade-updates
stream tells it; the engine's order listener records them). The other types Alpaca documents (``DIV``,
``CSD``, ``JNLC``, ...) are accepted as filters and answer nothing: the mock has no dividends, transfers or
fees. As Alpaca: newest first unless ``direction=asc``; ``page_size`` (default and maximum 100) pages them and
``page_token`` is the id of the last activity of the previous page; ``date`` (one day) or ``after``/``until``
bound them. Ids are ``<YYYYMMDDHHMMSSmmm>::<uuid>``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tradebridge_mocks.broker import marketdata
from tradebridge_mocks.broker.engine import Refusal, invalid, money
from tradebridge_mocks.broker.routes.common import answer, state

if TYPE_CHECKING:
    from tradebridge_mocks.broker.engine import Order, PaperEngine

TYPES = frozenset(
    [
        "FILL",
        "TRANS",
        "MISC",
        "ACATC",
        "ACATS",
        "CFEE",
        "CSD",
        "CSW",
        "DIV",
        "DIVCGL",
        "DIVCGS",
        "DIVFEE",
        "DIVFT",
        "DIVNRA",
        "DIVROC",
        "DIVTW",
        "DIVTXEX",
        "FEE",
        "INT",
        "INTNRA",
        "INTTW",
        "JNL",
        "JNLC",
        "JNLS",
        "MA",
        "NC",
        "OPASN",
        "OPEXP",
        "OPXRC",
        "PTC",
        "PTR",
        "REORG",
        "SC",
        "SSO",
        "SSP",
        "SPLIT",
    ]
)
MAX_PAGE = 100


def install(engine: PaperEngine) -> None:
    """Record every execution as a ``FILL`` activity of the account it happened in."""

    def on_event(event: str, order: Order, fields: dict[str, str]) -> None:
        if event not in ("fill", "partial_fill"):
            return
        moment = engine.clock.now()
        assert order.qty is not None
        engine.account.activities.append(
            {
                "id": f"{moment:%Y%m%d%H%M%S}{moment.microsecond // 1000:03d}::{uuid.uuid4()}",
                "account_id": engine.account.id,
                "activity_type": "FILL",
                "transaction_time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "type": event,
                "price": fields["price"],
                "qty": fields["qty"],
                "side": order.side,
                "symbol": order.symbol,
                "leaves_qty": money(order.qty - order.filled_qty),
                "order_id": order.id,
                "cum_qty": money(order.filled_qty),
                "order_status": order.status,
            }
        )

    engine.listeners.append(on_event)


def _moment(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if len(raw) == 10:  # a bare date is that day's start (UTC)
        try:
            return datetime.combine(date.fromisoformat(raw), datetime.min.time(), UTC)
        except ValueError:
            raise invalid(f"invalid {name}: {raw!r}") from None
    try:
        return datetime.fromtimestamp(marketdata.parse_time(raw, name) / 1000, UTC)
    except Refusal as refusal:
        raise invalid(refusal.message) from None


def _select(request: web.Request, types: set[str] | None) -> list[dict[str, Any]]:
    query = request.query
    direction = query.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise invalid(f"invalid direction: {direction!r}")
    try:
        page_size = int(query.get("page_size", MAX_PAGE))
    except ValueError:
        raise invalid("invalid page_size") from None
    if not 1 <= page_size <= MAX_PAGE:
        raise invalid(f"page_size must be between 1 and {MAX_PAGE}")
    after, until = _moment(request, "after"), _moment(request, "until")
    day = _moment(request, "date")
    if day is not None:
        if after is not None or until is not None:
            raise invalid("date cannot be combined with after or until")
        after, until = day - timedelta(microseconds=1), day + timedelta(days=1)
    engine = state(request).engine
    with engine.lock:
        items = list(engine.account.activities)
    if types is not None:
        items = [a for a in items if a["activity_type"] in types]

    def stamp(activity: dict[str, Any]) -> datetime:
        return datetime.strptime(activity["transaction_time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)

    items = [a for a in items if (after is None or stamp(a) > after) and (until is None or stamp(a) < until)]
    if direction == "desc":
        items.reverse()
    token = query.get("page_token")
    if token is not None:
        ids = [a["id"] for a in items]
        if token not in ids:
            raise invalid("invalid page_token")
        items = items[ids.index(token) + 1 :]
    return items[:page_size]


def _types(raw: str) -> set[str]:
    types = {t for t in raw.split(",") if t}
    unknown = sorted(types - TYPES)
    if not types or unknown:
        raise invalid(f"invalid activity type(s): {', '.join(unknown) or raw!r}")
    return types


async def list_activities(request: web.Request) -> web.Response:
    raw = request.query.get("activity_types")
    return answer(_select(request, None if raw is None else _types(raw)))


async def list_activities_of_type(request: web.Request) -> web.Response:
    activity_type = request.match_info["activity_type"]
    if activity_type not in TYPES:
        raise invalid(f"invalid activity type: {activity_type!r}")
    return answer(_select(request, {activity_type}))


def register(router: web.UrlDispatcher) -> None:
    router.add_get("/v2/account/activities", list_activities)
    router.add_get("/v2/account/activities/{activity_type}", list_activities_of_type)
