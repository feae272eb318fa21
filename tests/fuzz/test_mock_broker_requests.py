"""Fuzz of the mock broker's request parsing over real HTTP on loopback: random and mutated JSON bodies
and query strings against the order and position endpoints.

Every answer is a 2xx or a 4xx with Alpaca's JSON error body, never a 5xx (an unhandled exception), and
the secret key never comes back in any answer.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, example, given, note, seed
from hypothesis import strategies as st
from tradebridge_mocks.broker import MockBroker

from tests.fuzz.conftest import FUZZ_SETTINGS, SEED, TOKENS, mutated

API_KEY = "PKFUZZKEY00000000000"
SECRET_KEY = "sEcReT-fuzz-do-not-leak-4c1e"

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=10),
    st.sampled_from(("1", "0", "-1", "0.5", "1e3", "1e400", "nan", "inf", "", " 10 ", "1,5", "\uff11")),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def choice_or_any(*choices: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(choices), VALUES)


ORDER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "symbol": choice_or_any("AAPL", "MSFT", "aapl", "ZZZZ", "BRK.B", "AAPL "),
    "qty": choice_or_any("1", "2.5", "0", "-3", "1000000000"),
    "notional": choice_or_any("100", "0.01", "-5"),
    "side": choice_or_any("buy", "sell", "BUY", "short"),
    "type": choice_or_any("market", "limit", "stop", "stop_limit", "trailing_stop"),
    "time_in_force": choice_or_any("day", "gtc", "ioc", "fok", "opg", "cls"),
    "limit_price": choice_or_any("150", "0.0001", "-1", "1e9"),
    "stop_price": choice_or_any("140", "0", "1e9"),
    "trail_price": choice_or_any("1", "0"),
    "trail_percent": choice_or_any("1", "100", "0"),
    "extended_hours": choice_or_any("true"),
    "client_order_id": st.one_of(st.text(max_size=60), VALUES),
    "order_class": choice_or_any("simple", "bracket", "oco", "oto", "mleg"),
    "take_profit": st.one_of(st.fixed_dictionaries({"limit_price": VALUES}), VALUES),
    "stop_loss": st.one_of(st.fixed_dictionaries({"stop_price": VALUES, "limit_price": VALUES}), VALUES),
    "position_intent": choice_or_any("buy_to_open", "sell_to_close"),
}
ORDERS = st.fixed_dictionaries({}, optional=ORDER_FIELDS)
BUY = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}
LIMIT_SELL = {
    "symbol": "MSFT",
    "qty": "2",
    "side": "sell",
    "type": "limit",
    "limit_price": "900",
    "time_in_force": "gtc",
}
BRACKET = {
    **BUY, "type": "limit", "limit_price": "1", "time_in_force": "gtc", "order_class": "bracket",
    "take_profit": {"limit_price": "2"}, "stop_loss": {"stop_price": "0.5"},
}  # fmt: skip
GOOD_ORDERS = [BUY, LIMIT_SELL, BRACKET]
ONE_FIELD = st.sampled_from(sorted(ORDER_FIELDS)).flatmap(
    lambda key: ORDER_FIELDS[key].map(lambda v: {key: v})
)
#: a valid order with one or two fields changed: gets past the first check far more often than `ORDERS`
NEAR_GOOD = st.tuples(st.sampled_from(GOOD_ORDERS), st.lists(ONE_FIELD, max_size=2)).map(
    lambda pair: {k: v for part in (pair[0], *pair[1]) for k, v in part.items()}
)
BODIES = st.one_of(
    ORDERS.map(lambda order: json.dumps(order, allow_nan=True).encode()),
    NEAR_GOOD.map(lambda order: json.dumps(order, allow_nan=True).encode()),
    mutated([json.dumps(order).encode() for order in GOOD_ORDERS]),
    VALUES.map(lambda value: json.dumps(value, allow_nan=True).encode()),
    st.binary(max_size=64),
    st.sampled_from(TOKENS),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
)
QUERY_KEYS = (
    "status", "limit", "after", "until", "direction", "nested", "symbols", "side", "qty", "percentage",
    "client_order_id", "cancel_orders",
)  # fmt: skip
QUERIES = st.one_of(
    st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=12), max_size=5).map(
        urllib.parse.urlencode
    ),
    st.text(max_size=40).map(lambda text: urllib.parse.quote(text, safe="=&")),
)
SEGMENTS = st.one_of(
    st.sampled_from(("AAPL", "MSFT", "00000000-0000-0000-0000-000000000000")),
    st.text(min_size=1, max_size=40),
).map(lambda text: urllib.parse.quote(text, safe=""))


@pytest.fixture(scope="module")
def broker() -> Iterator[MockBroker]:
    with MockBroker(seed=11, symbols=("AAPL", "MSFT"), api_key=API_KEY, secret_key=SECRET_KEY) as running:
        running.advance(3)
        yield running


def request(broker: MockBroker, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """One request on its own connection, so a broken one cannot poison the next example."""
    parsed = urllib.parse.urlsplit(broker.url)
    connection = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=10)
    try:
        headers = {"APCA-API-KEY-ID": API_KEY, "APCA-API-SECRET-KEY": SECRET_KEY}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def answered_properly(method: str, path: str, status: int, raw: bytes) -> Any:
    """The answer's JSON; fails on a 5xx, on a 4xx without Alpaca's error body, on a leaked secret."""
    note(f"{method} {path} -> {status} {raw[:300]!r}")
    event(f"{method} {status}")
    assert SECRET_KEY.encode() not in raw
    assert status < 500, f"{method} {path} -> {status}: {raw[:500]!r}"
    document = json.loads(raw) if raw else None
    if status >= 400:
        assert isinstance(document, dict) and isinstance(document.get("message"), str), raw[:300]
    return document


@seed(SEED)
@FUZZ_SETTINGS
@given(body=BODIES, replace=BODIES)
# found by this test: a deeply nested body made json.loads raise RecursionError, answered with a 500
@example(body=b"[" * 5000 + b"]" * 5000, replace=b"{}")
def test_order_bodies_get_an_answer_never_a_server_error(
    broker: MockBroker, body: bytes, replace: bytes
) -> None:
    note(f"fuzz seed {SEED} (TRADEBRIDGE_FUZZ_SEED={SEED} replays this run)")
    status, raw = request(broker, "POST", "/v2/orders", body)
    order = answered_properly("POST", "/v2/orders", status, raw)
    if status != 200 or not isinstance(order, dict):
        return
    # An accepted order: replace it with another random body, then cancel it.
    path = f"/v2/orders/{order['id']}"
    answered_properly("PATCH", path, *request(broker, "PATCH", path, replace))
    answered_properly("DELETE", path, *request(broker, "DELETE", path))


@seed(SEED)
@FUZZ_SETTINGS
@given(
    route=st.sampled_from(
        (
            ("GET", "/v2/orders"),
            ("DELETE", "/v2/orders"),
            ("GET", "/v2/orders:by_client_order_id"),
            ("GET", "/v2/orders/{}"),
            ("DELETE", "/v2/orders/{}"),
            ("GET", "/v2/positions"),
            ("GET", "/v2/positions/{}"),
            ("DELETE", "/v2/positions/{}"),
        )
    ),
    segment=SEGMENTS,
    query=QUERIES,
)
def test_queries_and_path_segments_get_an_answer_never_a_server_error(
    broker: MockBroker, route: tuple[str, str], segment: str, query: str
) -> None:
    note(f"fuzz seed {SEED} (TRADEBRIDGE_FUZZ_SEED={SEED} replays this run)")
    method, template = route
    path = template.format(segment) + (f"?{query}" if query else "")
    answered_properly(method, path, *request(broker, method, path))
