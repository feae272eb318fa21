"""The kit as a pytest plugin: ``pytest --tradebridge-testee="CMD"`` adds one test per shipped vector.

Installed with the SDK (entry point ``pytest11``), it does nothing until the option is given. Fixtures:
``tradebridge_testee`` (a :class:`ProcessTestee`, session-scoped) and ``tradebridge_codec_run`` (the
:class:`CodecRun` of every vector). ``--tradebridge-report DIR`` also writes the JSON, JUnit and HTML reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tradebridge.conformance.driver import HandshakeError, ProcessTestee
from tradebridge.conformance.report import write_html, write_json, write_junit
from tradebridge.conformance.runner import FAILING, CodecRun, Verdict, run_codec
from tradebridge.conformance.vectors import load_known_failures, load_vectors

_RUN = pytest.StashKey[CodecRun | str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tradebridge", "tradebridge conformance kit")
    group.addoption("--tradebridge-testee", metavar="CMD", help="a testee command (conformance/PROTOCOL.md)")
    group.addoption(
        "--tradebridge-known-failures", metavar="FILE", type=Path, help="vector ids expected to fail"
    )
    group.addoption("--tradebridge-timeout", metavar="S", type=float, default=5.0, help="seconds per request")
    group.addoption("--tradebridge-report", metavar="DIR", type=Path, help="write codec.{json,xml,html} here")


def _codec_run(config: pytest.Config) -> CodecRun | str:
    """The run of every vector, once per session (a string: why it could not run)."""
    if _RUN not in config.stash:
        try:
            with ProcessTestee(
                config.getoption("tradebridge_testee"), config.getoption("tradebridge_timeout")
            ) as t:
                known = load_known_failures(config.getoption("tradebridge_known_failures"))
                run: CodecRun | str = run_codec(t, load_vectors(), known)
        except HandshakeError as exc:
            run = f"the testee could not run: {exc}"
        config.stash[_RUN] = run
        directory = config.getoption("tradebridge_report")
        if isinstance(run, CodecRun) and directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            write_json(run, directory / "codec.json")
            write_junit(run, directory / "codec.xml")
            write_html(run, directory / "codec.html")
    return config.stash[_RUN]


class CodecVectorFailure(Exception):
    pass


class CodecVectorItem(pytest.Item):
    """One vector's verdict, as a test."""

    def __init__(self, *, vector_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vector_id = vector_id

    def runtest(self) -> None:
        run = _codec_run(self.config)
        if isinstance(run, str):
            raise CodecVectorFailure(run)
        verdict = next((v for v in run.verdicts if v.vector == self.vector_id), None)
        if verdict is None or verdict.status == "pass":
            return
        if verdict.status in FAILING:
            raise CodecVectorFailure(_describe(verdict))
        pytest.skip(f"{verdict.status}: {verdict.problem}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CodecVectorFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"tradebridge codec vector {self.vector_id}"


def _describe(verdict: Verdict) -> str:
    head = f"{verdict.vector} {verdict.status}: {verdict.problem}"
    return f"{head}\n  expected {verdict.expected!r}\n  got      {verdict.got!r}"


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("tradebridge_testee"):
        return
    ids = [vector.id for vector in load_vectors()]
    known = load_known_failures(config.getoption("tradebridge_known_failures"))
    ids += sorted(known - set(ids))  # a listed id that names no vector is reported stale by the run
    for vector_id in ids:
        items.append(
            CodecVectorItem.from_parent(session, name=f"tradebridge_codec[{vector_id}]", vector_id=vector_id)
        )


@pytest.fixture(scope="session")
def tradebridge_codec_run(pytestconfig: pytest.Config) -> CodecRun:
    if not pytestconfig.getoption("tradebridge_testee"):
        pytest.skip("no --tradebridge-testee given")
    run = _codec_run(pytestconfig)
    if isinstance(run, str):
        pytest.fail(run)
    return run


@pytest.fixture(scope="session")
def tradebridge_testee(pytestconfig: pytest.Config) -> Iterator[ProcessTestee]:
    command = pytestconfig.getoption("tradebridge_testee")
    if not command:
        pytest.skip("no --tradebridge-testee given")
    with ProcessTestee(command, pytestconfig.getoption("tradebridge_timeout")) as testee:
        yield testee
