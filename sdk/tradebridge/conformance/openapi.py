"""schemathesis (its engine: probing, coverage, fuzzing and stateful phases, every check) against the guide's
health OpenAPI document, shipped here as package data with the contract schemas it refers to.

schemathesis is the ``kit`` extra (``pip install 'tradebridge[kit]'``): the SDK proper does not need it, so
a missing install is a :class:`KitExtraMissing` naming the extra, not an ``ImportError`` from deep inside.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

#: ``contracts/openapi/health.openapi.yaml`` refers to ``../v1/{health,readiness}.schema.json``: the same
#: layout inside the package, so the references resolve from an installed wheel too.
CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
HEALTH_OPENAPI = CONTRACTS_DIR / "openapi" / "health.openapi.yaml"


class KitExtraMissing(RuntimeError):
    """A kit command needs a library of the ``kit`` extra that is not installed."""

    def __init__(self, command: str, module: str) -> None:
        super().__init__(
            f"`tradebridge conformance {command}` needs {module}, from the kit extra: "
            "pip install 'tradebridge[kit]'"
        )
        self.command, self.module = command, module


def kit_import(command: str, module: str, package: str = "schemathesis") -> ModuleType:
    """``module``, or :class:`KitExtraMissing` naming ``package`` (its distribution) and the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise KitExtraMissing(command, package) from exc


@dataclass
class OpenApiFailure:
    """One failing check on one operation (repeats of the same failure are counted, not listed)."""

    check: str
    operation: str
    title: str
    message: str
    reproduce: str
    occurrences: int = 1

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "operation": self.operation, "title": self.title,
                "message": self.message, "reproduce": self.reproduce,
                "occurrences": self.occurrences}  # fmt: skip


@dataclass
class OpenApiRun:
    document: str
    checks: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[OpenApiFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop_reason: str = ""
    seconds: float = 0.0

    @property
    def conformant(self) -> bool:
        return self.stop_reason == "completed" and not self.failures and not self.errors and bool(self.checks)

    def failing_checks(self) -> set[str]:
        return {failure.check for failure in self.failures}

    def record(self, check: str, operation: str, status: str, info: Any) -> None:
        counts = self.checks.setdefault(check, {})
        counts[status] = counts.get(status, 0) + 1
        if info is None:
            return
        failure = info.failure
        title, message = str(failure.title), str(failure.message).strip()
        for known in self.failures:
            if (known.check, known.operation, known.title) == (check, operation, title):
                known.occurrences += 1
                return
        self.failures.append(OpenApiFailure(check, operation, title, message, str(info.code_sample)))

    def to_json(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "conformant": self.conformant,
            "stop_reason": self.stop_reason,
            "seconds": round(self.seconds, 3),
            "checks": self.checks,
            "failures": [failure.to_json() for failure in self.failures],
            "errors": self.errors,
        }


def run_openapi(
    base_url: str, max_examples: int = 25, timeout: float = 10.0, document: Path = HEALTH_OPENAPI
) -> OpenApiRun:
    """Every schemathesis check, every phase, on every operation of ``document`` served at ``base_url``."""
    schemathesis = kit_import("health", "schemathesis")
    engine = kit_import("health", "schemathesis.engine")
    events = kit_import("health", "schemathesis.engine.events")
    config = schemathesis.Config.from_dict(
        {
            "base-url": base_url,
            "checks": {
                "enabled": True,
                "max_response_time": timeout / 2,
                # 503 is this API's documented answer for "unhealthy" / "not ready" (what an orchestrator
                # acts on), not a server fault; status_code_conformance still fails it where undocumented.
                "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]},
            },
            # deterministic: the same service gets the same verdict twice, in a user's CI as in ours
            "generation": {"max-examples": max_examples, "database": "none", "deterministic": True},
            "request-timeout": timeout,
        }
    )
    schema = schemathesis.openapi.from_path(document, config=config)
    run = OpenApiRun(str(document))
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for nodes in event.recorder.checks.values():
                for node in nodes:
                    run.record(node.name, event.recorder.label, node.status.value, node.failure_info)
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.value}")
        elif isinstance(event, events.FatalError):
            run.errors.append(f"schemathesis stopped: {event.exception}")
        elif isinstance(event, events.EngineFinished):
            run.stop_reason = str(event.stop_reason.value)
            run.seconds = float(event.running_time)
            for failure in event.failures:
                run.errors.append(f"{failure.title}: {failure.message}")
    return run
