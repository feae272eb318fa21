"""The one error catalogue: Rust's ErrorCode::ALL, read by Python as tradebridge.errors.CODES, is the only
list of codes; everything else that names codes is checked against it here (the Rust binaries and the
conformance vectors are checked in conformance/codecs)."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest
import tradebridge
import tradebridge._native as native
from tradebridge.errors import CODES, FeatureError, InternalError

ROOT = Path(__file__).resolve().parents[2]
SDK = Path(tradebridge.__file__).parent
README = ROOT / "contracts" / "README.md"
CODE_CARRIERS = {"ContractError", "FeatureError", "FeatureTypeError"}


def test_the_catalogue_is_read_only_and_well_formed() -> None:
    assert list(CODES.items()) == [tuple(entry) for entry in native.error_codes()]
    for code, description in CODES.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code), code
        assert description and "\n" not in description and "|" not in description, code
    with pytest.raises(TypeError):
        CODES["new_code"] = "x"  # type: ignore[index]
    assert InternalError.code in CODES


def readme_table() -> list[tuple[str, str]]:
    section = README.read_text().split("## Error codes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z0-9_]+)` \| (.*) \|$", section, re.M)


def test_the_readme_table_is_the_catalogue() -> None:
    expected = "".join(f"| `{code}` | {text} |\n" for code, text in CODES.items())
    assert readme_table() == list(CODES.items()), (
        f"contracts/README.md's error table differs from ErrorCode::ALL; it should read:\n{expected}"
    )


def codes_named_in(path: Path) -> set[str]:
    """String literals the module uses as error codes: the first argument of an error that carries a code,
    a comparison with ``.code``, and the codes a classifier returns (``return "code", path``)."""
    found: set[str] = set()

    def strings(node: ast.AST) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, ast.IfExp):  # "invalid_version" if ... else "invalid_value"
            return strings(node.body) | strings(node.orelse)
        return set()

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and node.args:
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in CODE_CARRIERS:
                found |= strings(node.args[0])
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute):
            if node.left.attr == "code":
                for right in node.comparators:
                    found |= strings(right)
        elif isinstance(node, ast.FunctionDef) and node.name == "_classify":
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and isinstance(ret.value, ast.Tuple):
                    found |= strings(ret.value.elts[0])
    return found


def test_every_code_the_python_sdk_names_is_in_the_catalogue() -> None:
    # The Alpaca adapter's codes (endpoint rules, order validation) are its own and not catalogued.
    paths = [path for path in sorted(SDK.rglob("*.py")) if "alpaca" not in path.relative_to(SDK).parts]
    named = {code: str(path.relative_to(SDK)) for path in paths for code in codes_named_in(path)}
    # The scan must see the codec's codes at all, or this test would pass vacuously.
    assert len(named) >= 12, sorted(named)
    unknown = {code: where for code, where in named.items() if code not in CODES}
    assert not unknown, f"codes outside ErrorCode::ALL: {unknown}"


def test_errors_carry_catalogue_codes_across_pickling() -> None:
    error = FeatureError("out_of_range", "close must be finite, got nan", "close")
    again = pickle.loads(pickle.dumps(error))
    assert (again.code, again.field, str(again)) == ("out_of_range", "close", str(error))
    assert again.code in CODES
