"""Rate limiter, timeouts, retries and error mapping, with ``responses`` standing in for Alpaca."""

from __future__ import annotations

import json
import random
import time
from collections import deque

import pytest
import responses
from responses import matchers
from tradebridge.alpaca import (
    PAPER_URL,
    AlpacaPaperTrading,
    AuthenticationError,
    BrokerUnavailableError,
    DuplicateClientOrderIdError,
    InsufficientFundsError,
    NotFoundError,
    OrderRejectedError,
    RetryPolicy,
    TokenBucket,
)
from tradebridge.errors import BrokerError, RateLimitError

from tests.alpaca.conftest import API_KEY, SECRET_KEY

ACCOUNT = {
    "id": "e6fe16f3-64a4-4921-8928-cadf02f92f98",
    "account_number": "PA0000001",
    "status": "ACTIVE",
    "cash": "1000",
    "equity": "1000",
    "buying_power": "1000",
    "last_equity": "1000",
}
ORDER = {
    "id": "61e69015-8549-4bfd-b9c3-01e75843f47d",
    "client_order_id": "coid-1",
    "created_at": "2024-01-02T15:00:00Z",
    "updated_at": "2024-01-02T15:00:00Z",
    "submitted_at": "2024-01-02T15:00:00Z",
    "time_in_force": "day",
    "status": "filled",
    "extended_hours": False,
    "symbol": "AAPL",
    "side": "buy",
    "type": "market",
    "order_type": "market",
    "qty": "5",
    "filled_qty": "5",
    "filled_avg_price": "100.1",
}


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_client(sleeps: list[float] | None = None, **options: object) -> AlpacaPaperTrading:
    recorder = sleeps if sleeps is not None else []
    return AlpacaPaperTrading(
        API_KEY,
        SECRET_KEY,
        rate_limit_per_minute=None,
        retry=RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.04, budget=5),
        sleep=recorder.append,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(("per_minute", "burst"), [(200, None), (200, 1), (60, 10), (1000, 50)])
def test_token_bucket_never_exceeds_the_limit_in_any_minute(per_minute: int, burst: int | None) -> None:
    fake = FakeTime()
    bucket = TokenBucket(per_minute, burst, clock=fake.clock, sleep=fake.sleep)
    stamps: deque[float] = deque()
    rng = random.Random(1)
    idle = 0.0
    for _ in range(3 * per_minute):
        bucket.acquire()
        stamps.append(fake.now)
        while stamps[0] <= fake.now - 60:
            stamps.popleft()
        assert len(stamps) <= per_minute
        pause = rng.choice((0.0, 0.0, 0.01, 0.5))  # bursts and pauses
        fake.now += pause
        idle += pause
    # and it is not needlessly slow: the waits add up to at most the three minutes the limit imposes
    assert sum(fake.sleeps) <= 3 * 60
    assert fake.now <= idle + 3 * 60


def test_token_bucket_bursts_then_paces() -> None:
    fake = FakeTime()
    bucket = TokenBucket(120, 5, clock=fake.clock, sleep=fake.sleep)
    for _ in range(5):
        assert bucket.acquire() == 0.0
    waited = bucket.acquire()
    assert waited == pytest.approx(60 / 115)
    paused_at = fake.now
    bucket.pause_for(10)  # the broker answered 429 with a reset 10 s away
    fake.now += 1
    bucket.acquire()
    assert fake.now == pytest.approx(paused_at + 10)
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(10, 11)


@responses.activate
def test_every_request_carries_a_timeout_and_alpacas_own_retry_is_off() -> None:
    responses.get(f"{PAPER_URL}/v2/account", json=ACCOUNT)
    client = make_client(timeout=2.5)
    assert client.get_account_info().cash == 1000
    assert responses.calls[0].request.req_kwargs["timeout"] == 2.5
    assert client._trading._retry == 0 and client._data._retry == 0


@responses.activate
def test_429_is_retried_after_the_announced_reset() -> None:
    reset = int(time.time()) + 2
    responses.get(
        f"{PAPER_URL}/v2/account",
        status=429,
        json={"code": 42910000, "message": "rate limit exceeded"},
        headers={"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    responses.get(f"{PAPER_URL}/v2/account", json=ACCOUNT)
    sleeps: list[float] = []
    make_client(sleeps).get_account_info()
    assert len(responses.calls) == 2
    (wait,) = sleeps
    assert 0.9 < wait <= 2.02  # until the reset (whole seconds), plus at most base_delay of jitter


@responses.activate
def test_retry_after_header_and_5xx_backoff() -> None:
    responses.get(f"{PAPER_URL}/v2/account", status=429, body="slow down", headers={"Retry-After": "0.25"})
    responses.get(f"{PAPER_URL}/v2/account", status=503, body="Service Unavailable")
    responses.get(f"{PAPER_URL}/v2/account", status=500, body="oops")
    responses.get(f"{PAPER_URL}/v2/account", json=ACCOUNT)
    sleeps: list[float] = []
    make_client(sleeps).get_account_info()
    assert len(responses.calls) == 4
    assert 0.25 <= sleeps[0] <= 0.26
    assert 0.01 <= sleeps[1] <= 0.02 + 1e-9  # attempt 1: jittered within [base, 2*base]
    assert 0.02 <= sleeps[2] <= 0.04 + 1e-9


@responses.activate
def test_retries_run_out() -> None:
    responses.get(
        f"{PAPER_URL}/v2/account", status=429, json={"code": 42910000, "message": "rate limit exceeded"}
    )
    with pytest.raises(RateLimitError) as info:
        make_client().get_account_info()
    assert (info.value.status_code, info.value.code, info.value.message) == (
        429,
        42910000,
        "rate limit exceeded",
    )
    assert len(responses.calls) == 4
    responses.replace(responses.GET, f"{PAPER_URL}/v2/account", status=502, body="Bad Gateway")
    with pytest.raises(BrokerError) as error:
        make_client().get_account_info()
    assert (error.value.status_code, error.value.code, error.value.message) == (502, None, "Bad Gateway")


@pytest.mark.parametrize(
    ("status", "body", "error_type", "code"),
    [
        (401, {"message": "unauthorized."}, AuthenticationError, None),
        (
            403,
            {"code": 40310000, "message": "insufficient buying power", "buying_power": "5"},
            InsufficientFundsError,
            40310000,
        ),
        (403, {"code": 40310000, "message": "account is not allowed to short"}, OrderRejectedError, 40310000),
        (404, {"code": 40410000, "message": "order not found"}, NotFoundError, 40410000),
        (
            422,
            {"code": 40010001, "message": "client_order_id must be unique"},
            DuplicateClientOrderIdError,
            40010001,
        ),
        (
            422,
            {"code": 42210000, "message": "potential wash trade detected. use complex orders"},
            OrderRejectedError,
            42210000,
        ),
    ],
)
@responses.activate
def test_broker_answers_become_typed_errors(
    status: int, body: dict[str, object], error_type: type[BrokerError], code: int | None
) -> None:
    responses.post(f"{PAPER_URL}/v2/orders", status=status, json=body)
    with pytest.raises(error_type) as info:
        make_client().place_order("AAPL", 5, "buy")
    assert (info.value.status_code, info.value.code, info.value.message) == (status, code, body["message"])
    assert len(responses.calls) == 1  # refusals are not retried


@responses.activate
def test_duplicate_after_a_retry_returns_the_first_order() -> None:
    responses.post(f"{PAPER_URL}/v2/orders", status=504, body="Gateway Timeout")
    responses.post(
        f"{PAPER_URL}/v2/orders",
        status=422,
        json={"code": 40010001, "message": "client_order_id must be unique"},
    )
    client = make_client()
    spec = client.place_order("AAPL", 5, "buy", validate_only=True)
    responses.get(
        f"{PAPER_URL}/v2/orders:by_client_order_id",
        json={**ORDER, "client_order_id": spec.client_order_id},
        match=[matchers.query_param_matcher({"client_order_id": spec.client_order_id})],
    )
    order = client.place_order("AAPL", 5, "buy", client_order_id=spec.client_order_id)
    assert order.id == ORDER["id"] and order.client_order_id == spec.client_order_id
    bodies = [json.loads(c.request.body) for c in responses.calls if c.request.method == "POST"]
    assert [b["client_order_id"] for b in bodies] == [spec.client_order_id] * 2  # the same id each time


@responses.activate
def test_duplicate_of_a_different_order_is_not_mistaken_for_ours() -> None:
    responses.post(f"{PAPER_URL}/v2/orders", status=503, body="")
    responses.post(
        f"{PAPER_URL}/v2/orders",
        status=422,
        json={"code": 40010001, "message": "client_order_id must be unique"},
    )
    responses.get(
        f"{PAPER_URL}/v2/orders:by_client_order_id", json={**ORDER, "client_order_id": "reused", "qty": "7"}
    )
    with pytest.raises(DuplicateClientOrderIdError, match="different order"):
        make_client().place_order("AAPL", 5, "buy", client_order_id="reused")


@responses.activate
def test_a_first_try_duplicate_is_a_refusal() -> None:
    responses.post(
        f"{PAPER_URL}/v2/orders",
        status=422,
        json={"code": 40010001, "message": "client_order_id must be unique"},
    )
    with pytest.raises(DuplicateClientOrderIdError):
        make_client().place_order("AAPL", 5, "buy", client_order_id="used-yesterday")
    assert len(responses.calls) == 1  # no look-up: nothing was retried


@responses.activate
def test_connection_failures_are_retried_then_reported() -> None:
    import requests

    responses.get(f"{PAPER_URL}/v2/account", body=requests.ConnectionError("refused"))
    sleeps: list[float] = []
    with pytest.raises(BrokerUnavailableError, match="could not connect") as info:
        make_client(sleeps).get_account_info()
    assert isinstance(info.value, ConnectionError)
    assert len(responses.calls) == 4 and len(sleeps) == 3
