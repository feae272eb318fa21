"""The CURVE key-loading rule (conformance/vectors/curve/keys.json) against the Python implementation.

The Rust crate runs the same file (crates/tradebridge-bus/tests/curve_vectors.rs); a case both pass is one
rule in both languages.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tradebridge.bus._security import ALLOW_ANY, CurveConfigError, resolve

VECTORS = Path(__file__).resolve().parents[2] / "conformance" / "vectors" / "curve" / "keys.json"
CASES: list[dict[str, Any]] = json.loads(VECTORS.read_text(encoding="utf-8"))["cases"]


def _lay_out(case: dict[str, Any], root: Path) -> tuple[dict[str, str], dict[str, str]]:
    for name, text in case.get("files", {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def fill(values: dict[str, str]) -> dict[str, str]:
        return {k: v.replace("$DIR", str(root)) for k, v in values.items()}

    return fill(case.get("flags", {})), fill(case.get("env", {}))


def answer(case: dict[str, Any], root: Path) -> dict[str, Any]:
    """What the Python rule says about one case, in the vectors' ``expected`` form."""
    flags, env = _lay_out(case, root)
    try:
        curve = resolve(flags, env)
    except CurveConfigError as exc:
        return {"code": exc.code}
    if curve is None:
        return {"off": True}
    allow: Any = None
    if curve.allow == ALLOW_ANY:
        allow = ALLOW_ANY
    elif curve.allow is not None:
        allow = sorted(curve.allow)
    return {"public": curve.public, "server_public": curve.server_public, "allow": allow}


def test_the_vectors_cover_every_refusal_code() -> None:
    codes = {case["expected"].get("code") for case in CASES} - {None}
    assert codes == {
        "curve_allow_empty",
        "curve_bad_key",
        "curve_file_no_key",
        "curve_file_unreadable",
        "curve_key_mismatch",
        "curve_role_missing",
        "curve_secret_missing",
    }
    assert any(case["expected"].get("off") for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector(case: dict[str, Any], tmp_path: Path) -> None:
    assert answer(case, tmp_path) == case["expected"]


def test_errors_never_show_a_secret_key(tmp_path: Path) -> None:
    secret = "bhSVW)@cJ6JK13=.(ov0WjFXpB.@#?+EGp(zX5ko"
    with pytest.raises(CurveConfigError) as caught:
        resolve({}, {"TRADEBRIDGE_CURVE_SECRET_KEY": secret})
    assert secret not in str(caught.value)
    from tradebridge.bus import Curve

    assert secret not in repr(Curve.server(secret, ["G!fHBe2-0KW*)cn5@/9idtx/G<-A+BNweR.?=4Mx"]))
