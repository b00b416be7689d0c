"""Commands that only read files start light: `multidc --help` and `eval "$(multidc env)"` load click and the standard
library, not the HTTP client, the validation library or the terminal renderer (a user notices a slow `eval`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from multidc import exports
from multidc.consistency import CONSISTENCIES
from multidc.paths import EnvPaths

HEAVY = ("hvac", "requests", "urllib3", "pydantic", "rich", "yaml", "pyroute2", "cryptography", "jinja2")


def loaded_after(code: str, env: dict[str, str] | None = None) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)), file=sys.stderr)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)
    return set(proc.stderr.strip().splitlines()[-1].split()), proc


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_importing_the_cli_loads_no_heavy_library() -> None:
    modules, _ = loaded_after("import multidc.cli")
    assert "click" in modules and heavy(modules) == []


def _fake_env(root: Path, name: str) -> EnvPaths:
    paths = EnvPaths(root / name)
    paths.secrets.mkdir(parents=True, mode=0o700)
    paths.root.chmod(0o700)
    state = {"env": name, "topology": {"datacenters": ["a", "b"]}, "port_base": 18300, "binary": {}, "phase": "up"}
    state |= {"provider": "netns", "created_at": 1.5}
    paths.state.write_text(json.dumps(state))
    (paths.secrets / "root-token").write_text("t\n")
    places = {dc: {"BAO_ADDR": f"https://127.0.0.1:1830{i}", "BAO_TOKEN": "t"} for i, dc in enumerate(["a", "b"], 1)}
    exports.record(paths, places, "a")
    return paths


def test_env_prints_the_record_without_loading_the_api(tmp_path: Path) -> None:
    _fake_env(tmp_path, "fast")
    code = "from multidc.cli import cli\ncli.main(args=['env', 'b', '--name', 'fast'], standalone_mode=False)"
    modules, proc = loaded_after(code, {"MULTIDC_STATE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["export BAO_ADDR=https://127.0.0.1:18302", "export BAO_TOKEN=t"]
    assert heavy(modules) == [] and "multidc.api" not in modules


def test_a_record_for_another_state_is_not_used(tmp_path: Path) -> None:
    paths = _fake_env(tmp_path, "stale")
    assert exports.recorded(paths, None) == {"BAO_ADDR": "https://127.0.0.1:18301", "BAO_TOKEN": "t"}
    assert exports.recorded(paths, "nowhere") is None  # unknown: the provider says what is wrong
    state = json.loads(paths.state.read_text())
    state["topology"] = {"datacenters": ["a"]}  # the environment changed after the record was made
    paths.state.write_text(json.dumps(state))
    assert exports.recorded(paths, "b") is None
    paths.state.unlink()
    assert exports.recorded(paths, "b") is None


def test_the_record_is_private_and_reads_tokens_where_they_are_kept(tmp_path: Path) -> None:
    paths = _fake_env(tmp_path, "priv")
    assert paths.exports.stat().st_mode & 0o777 == 0o600
    assert "t" not in json.loads(paths.exports.read_text())["places"]["a"].values()  # named, not copied
    (paths.secrets / "root-token").write_text("t2\n")  # a token that changes later is never printed stale
    assert exports.recorded(paths, "a") == {"BAO_ADDR": "https://127.0.0.1:18301", "BAO_TOKEN": "t2"}
    (paths.secrets / "root-token").unlink()
    assert exports.recorded(paths, "a") is None  # the long way then says what is missing


@pytest.mark.parametrize("command", ["verify"])
def test_verify_offers_every_consistency(command: str) -> None:
    from multidc.cli import cli

    option = next(p for p in cli.commands[command].params if p.name == "consistency")
    assert tuple(option.type.choices) == CONSISTENCIES  # type: ignore[attr-defined]
