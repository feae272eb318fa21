"""``contracts/asyncapi.yaml``: generated from the schemas (regenerating changes nothing), valid under the
official AsyncAPI 3.0.0 JSON Schema (validated by python-jsonschema), and consistent with the schemas
it points to: every reference resolves, every bus message is on its topic's channel, and each golden
vector matches exactly one message of its channel, as AsyncAPI requires of a channel's messages."""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "contracts" / "asyncapi.yaml"
SCHEMAS = ROOT / "contracts" / "v1"
OFFICIAL = Path(__file__).with_name("data") / "asyncapi-3.0.0-without-id.json"
OFFICIAL_SHA256 = "acefdddecb7909e2e6335f49b5acf222cf6170e303e51ab7824123981d7adfa0"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_asyncapi", ROOT / "contracts" / "tools" / "gen_asyncapi.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def official() -> Draft7Validator:
    raw = OFFICIAL.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == OFFICIAL_SHA256, "the vendored AsyncAPI schema was edited"
    schema = json.loads(raw)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for token in pointer.lstrip("/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_regenerating_changes_nothing() -> None:
    assert _generator().render() == DOCUMENT.read_text(encoding="utf-8"), (
        "contracts/asyncapi.yaml is stale: run python contracts/tools/gen_asyncapi.py"
    )
    assert _generator().main(["--check"]) == 0


def test_valid_under_the_official_asyncapi_3_schema(
    document: dict[str, Any], official: Draft7Validator
) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in official.iter_errors(document)]
    assert not errors, errors


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda d: d["operations"]["strategy.send.signal"].update(action="publish"), "AsyncAPI 2's verb"),
        (lambda d: d["channels"]["market"].update(address=5555), "an address is a string"),
        (lambda d: d.update(asyncapi="2.6.0"), "another spec version"),
        (lambda d: d["servers"]["market"].pop("protocol"), "a server needs its protocol"),
    ],
    ids=["publish-verb", "numeric-address", "version", "no-protocol"],
)
def test_the_validator_refuses_a_damaged_document(
    document: dict[str, Any], official: Draft7Validator, damage: Any, why: str
) -> None:
    """The validation above can fail: a document with one mistake is refused."""
    damaged = copy.deepcopy(document)
    damage(damaged)
    assert not official.is_valid(damaged), why


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    refs = _refs(document)
    internal = [ref for ref in refs if ref.startswith("#/")]
    external = sorted({ref for ref in refs if not ref.startswith("#")})
    for ref in internal:
        _pointer(document, ref[1:])
    assert external == sorted(
        f"./v1/{p.name}" for p in SCHEMAS.glob("*.schema.json") if "x-type" in p.read_text()
    )
    for ref in external:
        Draft202012Validator.check_schema(json.loads((DOCUMENT.parent / ref).read_text()))


def test_channels_carry_the_messages_of_their_topic(document: dict[str, Any]) -> None:
    expected: dict[str, set[str]] = {}
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        if "x-type" in schema:
            expected.setdefault(schema["x-topic"], set()).add(schema["x-type"])
    channels = document["channels"]
    assert set(channels) == set(expected)
    for topic, channel in channels.items():
        assert channel["address"] == topic
        assert set(channel["messages"]) == expected[topic]
        for name in channel["messages"]:
            message = document["components"]["messages"][name]
            file = DOCUMENT.parent / message["payload"]["schema"]["$ref"]
            schema = json.loads(file.read_text())
            assert (schema["x-topic"], schema["x-type"]) == (topic, name)
            assert message["payload"]["schemaFormat"] == "application/schema+json;version=2020-12"
    for name, operation in document["operations"].items():
        topic = operation["channel"]["$ref"].rsplit("/", 1)[1]
        for ref in operation.get("messages", []):
            assert ref["$ref"].startswith(f"#/channels/{topic}/messages/"), name


def test_golden_vectors_match_exactly_one_message_of_their_channel(document: dict[str, Any]) -> None:
    registry: Registry[Any] = Registry()
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema, DRAFT202012))
    topic_of = {}
    validators: dict[str, dict[str, Draft202012Validator]] = {}
    for topic, channel in document["channels"].items():
        for name in channel["messages"]:
            file = document["components"]["messages"][name]["payload"]["schema"]["$ref"]
            schema = json.loads((DOCUMENT.parent / file).read_text())
            validators.setdefault(topic, {})[name] = Draft202012Validator(
                {"$ref": schema["$id"]}, registry=registry
            )
            topic_of[Path(file).name.removesuffix(".schema.json")] = topic
    checked = 0
    for path in sorted((ROOT / "conformance" / "vectors").glob("*/y_*.json")):
        vector = json.loads(path.read_text())
        if vector.get("message") not in topic_of or "input" not in vector:
            continue
        matches = [
            n for n, v in validators[topic_of[vector["message"]]].items() if v.is_valid(vector["input"])
        ]
        assert len(matches) == 1, f"{path.name}: matches {matches}"
        checked += 1
    assert checked >= 20
