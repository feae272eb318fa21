"""``tradebridge <command>``: commands come from the entry points of installed distributions, none from
the SDK itself."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from tradebridge import cli
from tradebridge.cli import GROUP


def tradebridge(*args: str, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if path is not None:  # a directory holding extra distributions (dist-info + module)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "tradebridge.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )


def fake_distribution(root: Path, name: str, commands: dict[str, str], modules: dict[str, str]) -> Path:
    info = root / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in commands.items())
    )
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
    return root


def test_every_command_comes_from_a_distributions_entry_point() -> None:
    assert not hasattr(cli, "COMMANDS")  # no table of names in the SDK: the mocks and the demo declare theirs
    declared = {e.name for e in entry_points(group=GROUP)}
    done = tradebridge("--help")
    assert done.returncode == 0
    lines = {line.split()[0]: line for line in done.stdout.splitlines() if line.startswith("  ")}
    assert {"demo", "mock-broker", "mock-publisher"} <= set(lines) == declared
    assert "[tradebridge-demo]" in lines["demo"] and "trading flow" in lines["demo"]
    assert "[tradebridge-mocks]" in lines["mock-publisher"]
    assert "``" not in lines["mock-publisher"]  # the docstring's own "``tradebridge x``:" is not repeated


def test_an_unknown_command_exits_2_with_the_list() -> None:
    done = tradebridge("no-such-command")
    assert done.returncode == 2
    assert "unknown command 'no-such-command'" in done.stderr and "mock-broker" in done.stderr


def test_a_new_distribution_adds_a_command_without_touching_the_sdk(tmp_path: Path) -> None:
    source = '"""Ignored: SUMMARY wins."""\nSUMMARY = "say hello"\n\n'
    source += 'def main(argv):\n    print("hello", argv)\n    return 7\n'
    root = fake_distribution(tmp_path, "hello_dist", {"hello": "hello_cmd:main"}, {"hello_cmd": source})
    assert "say hello [hello_dist]" in tradebridge("--help", path=root).stdout
    done = tradebridge("hello", "a", "--b", path=root)
    assert (done.returncode, done.stdout.strip()) == (7, "hello ['a', '--b']")


def test_a_command_whose_dependencies_are_missing_says_which_and_what_to_install(tmp_path: Path) -> None:
    source = '"""Needs a module nobody installed."""\nimport tb_not_installed_anywhere\n\n'
    source += "def main(argv):\n    return 0\n"
    root = fake_distribution(tmp_path, "broken_dist", {"broken": "broken_cmd:main"}, {"broken_cmd": source})
    listed = tradebridge("--help", path=root)
    assert listed.returncode == 0 and "cannot be loaded" in listed.stdout  # the others still list
    done = tradebridge("broken", path=root)
    assert done.returncode == 2
    assert "'tb_not_installed_anywhere' is not installed" in done.stderr and "broken" in done.stderr
