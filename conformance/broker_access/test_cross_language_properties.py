"""Hypothesis: beyond the vectors, random inputs get the same answer from Python and Rust.

URLs are assembled from pieces chosen to sit near the rule's edges (numeric and look-alike hosts, odd
ports, userinfo, paths, Unicode, whitespace); credentials are random subsets of the four variables, some
empty, in either source; retries draw every input of the schedule. A divergence prints the input, which
then belongs in the vectors.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.broker_access.harness import PythonTestee, RustTestee

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

schemes = st.sampled_from(["http"] * 4 + ["https"] * 4 + ["HTTPS", "Http", "ftp", "h ttp", "1http", ""])
separators = st.sampled_from(["://"] * 12 + [":/", "//", ":"])
hosts = st.sampled_from(
    [
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "0x7f.0.0.1",
        "0x7F.1",
        "2130706433",
        "017700000001",
        "127.000.0.1",
        "127.0.0.1.",
        "127.0.0.256",
        "1.2.3.4",
        "0.0.0.0",
        "localhost",
        "LOCALHOST",
        "localhost.",
        "paper-api.alpaca.markets",
        "PAPER-API.ALPACA.MARKETS",
        "paper-api.alpaca.markets.",
        "paper-api.alpaca.mar\u212aets",
        "p\u0430per-api.alpaca.markets",
        "api.alpaca.markets",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[0::1]",
        "[::1%25lo]",
        "[::1",
        "",
        "0x",
        "09",
        "1.0x1",
        "\uff11\uff12\uff17.0.0.1",
    ]
)
pieces = st.text(alphabet="0123456789abcdefx.:/@?#[]% \t\\\u0430\uff10", max_size=6)
ports = st.one_of(
    st.just(""),
    st.integers(min_value=0, max_value=70000).map(lambda p: f":{p}"),
    pieces.map(lambda p: f":{p}"),
)
userinfo = st.sampled_from([""] * 12 + ["user@", "u:p@", "@"])
paths = st.sampled_from(["", "", "/", "/v2", "/v2/", "/v3", "/v2/orders", "?x=1", "#f", "/@evil"])
padding = st.sampled_from([""] * 6 + [" ", "\n", "\t "])


@st.composite
def urls(draw: Any) -> str:
    parts = (
        draw(padding),
        draw(schemes),
        draw(separators),
        draw(userinfo),
        draw(hosts),
        draw(ports),
        draw(paths),
        draw(padding),
    )
    text = "".join(parts)
    return text + draw(pieces) if draw(st.integers(0, 4)) == 0 else text


@SETTINGS
@given(url=urls())
def test_random_urls_get_the_same_answer(url: str, rust_broker_testee: RustTestee) -> None:
    python = PythonTestee().request("url", input=url)
    rust = rust_broker_testee.request("url", input=url)
    assert python["ok"] == rust["ok"], (url, python, rust)
    if python["ok"]:
        assert python["origin"] == rust["origin"] and python["loopback"] == rust["loopback"], (
            url,
            python,
            rust,
        )
    else:
        assert python["code"] == rust["code"], (url, python["message"], rust["message"])


VARIABLES = (
    "ALPACA_API_KEY",
    "ALPACA_SECRET_KEY",
    "APCA_API_KEY_ID",
    "APCA_API_SECRET_KEY",
    "ALPACA_BASE_URL",
)
sources = st.dictionaries(st.sampled_from(VARIABLES), st.sampled_from(["", "a", "b-1", "c_2"]), max_size=5)


@SETTINGS
@given(env=sources, env_file=sources)
def test_random_credential_sources_get_the_same_answer(
    env: dict[str, str], env_file: dict[str, str], rust_broker_testee: RustTestee
) -> None:
    python = PythonTestee().request("credentials", env=env, env_file=env_file)
    rust = rust_broker_testee.request("credentials", env=env, env_file=env_file)
    keep = ("ok", "code", "key", "secret")
    assert {k: python.get(k) for k in keep} == {k: rust.get(k) for k in keep}, (env, env_file)


seconds = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
header_values = st.one_of(
    st.integers(min_value=0, max_value=2_000_000_000).map(str),
    st.floats(min_value=0.0, max_value=1e10, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.sampled_from(["", " 2 ", "inf", "1e3", "-1", "+1", ".5", "5.", "\u0661", "1_0", "soon"]),
)


@SETTINGS
@given(
    policy=st.fixed_dictionaries(
        {
            "max_attempts": st.integers(min_value=1, max_value=10),
            "base_delay": st.floats(min_value=0.0, max_value=5.0),
            "max_delay": st.floats(min_value=0.0, max_value=60.0),
            "budget": seconds,
        }
    ),
    failed=st.integers(min_value=1, max_value=70),
    status=st.one_of(st.none(), st.sampled_from([200, 400, 401, 404, 422, 429, 500, 501, 503, 504, 599])),
    headers=st.dictionaries(st.sampled_from(["Retry-After", "X-RateLimit-Reset"]), header_values, max_size=2),
    now=st.floats(min_value=1.6e9, max_value=1.9e9),
    waited=seconds,
    u=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_random_retry_inputs_get_the_same_decision(rust_broker_testee: RustTestee, **request: Any) -> None:
    python = PythonTestee().request("retry", **request)
    rust = rust_broker_testee.request("retry", **request)
    assert python["ok"] == rust["ok"], (request, python, rust)
    if python["ok"]:
        assert abs(python["delay"] - rust["delay"]) <= 1e-6, (request, python, rust)
    else:
        assert python["code"] == rust["code"], (request, python, rust)
