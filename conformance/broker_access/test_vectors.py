"""Every broker-access vector against both languages: the paper-only URL rule, credential precedence and the
retry schedule give the same answer (origin, chosen pair, wait) or the same refusal code in Python and Rust.

There is no known-failure list: a divergence between the languages is a bug in one of them.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.broker_access.harness import RULES, VECTORS_DIR, Case, load_cases, load_file, verdict

CASES = [case for rule in RULES for case in load_cases(rule)]
IMPLEMENTATIONS = ("python", "rust")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_vector(case: Case, implementation: str, testees: dict[str, Any], conformance_report: Any) -> None:
    fields = {k: v for k, v in case.request.items() if k != "op"}
    answer = testees[implementation].request(case.request["op"], **fields)
    problem = verdict(case, answer)
    conformance_report.record(
        "broker_access", f"{implementation}:{case.id}", "passed" if problem is None else "failed"
    )
    assert problem is None, f"{case.id} ({implementation}): {problem}\nrequest: {case.request}"


def test_both_languages_have_the_same_codes_and_the_vectors_use_each(testees: dict[str, Any]) -> None:
    python, rust = (testees[name].request("codes") for name in IMPLEMENTATIONS)
    for rule in RULES:
        assert sorted(python[rule]) == sorted(rust[rule]), rule
        used = {case.expected["code"] for case in CASES if case.rule == rule and "code" in case.expected}
        assert used == set(python[rule]), f"{rule}: codes without a vector: {set(python[rule]) - used}"


def test_the_default_retry_policy_is_the_same(testees: dict[str, Any]) -> None:
    expected = load_file(VECTORS_DIR / "retry" / "schedule.json")["default_policy"]
    for name in IMPLEMENTATIONS:
        assert testees[name].request("defaults")["policy"] == expected, name


def test_vector_ids_are_unique_and_every_rule_has_vectors() -> None:
    assert len({case.id for case in CASES}) == len(CASES)
    for rule in RULES:
        accepted = [c for c in CASES if c.rule == rule and "code" not in c.expected]
        refused = [c for c in CASES if c.rule == rule and "code" in c.expected]
        assert accepted and refused, rule
