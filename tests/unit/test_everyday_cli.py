"""The everyday commands' surface without an environment: --version, shell completion (click's own, from what
exists), bad input as one line (exit 2, nothing made), the export's secret removal on its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from multidc import export, topology
from multidc.binaries import packaged_openbao
from multidc.cli import cli
from multidc.paths import EnvPaths
from multidc.state import State, write_secret


def multidc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "multidc", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def test_version_names_multidc_and_the_server_it_would_use() -> None:
    out = multidc("--version")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0] == "multidc 0.1.0"
    if packaged_openbao() is not None:
        assert lines[1].startswith("server: OpenBao v2.7.2 (") and str(packaged_openbao()) in lines[1]
    assert lines[2] == "kind/kube image: openbao/openbao:2.7.2"


@pytest.fixture
def two_envs(tmp_path: Path) -> dict[str, str]:
    """Two recorded environments (state files only), the second with its own DC names."""
    State(env="alpha", topology={}, port_base=18200, binary={}, phase="up").save(EnvPaths(tmp_path / "alpha"))
    topo = topology.parse({"datacenters": ["east", "west"]}).model_dump(mode="json")
    State(env="beta", topology=topo, port_base=18210, binary={}, phase="up").save(EnvPaths(tmp_path / "beta"))
    return {"MULTIDC_STATE_DIR": str(tmp_path)}


def complete(words: str, where: dict[str, str]) -> list[str]:
    cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    env = {**where, "_MULTIDC_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    out = multidc(env=env)
    assert out.returncode == 0, out.stderr
    return [line.split(",", 1)[1] for line in out.stdout.splitlines()]


def test_bash_completion_of_names_and_dcs_from_what_exists(two_envs: dict[str, str]) -> None:
    assert complete("multidc logs --name ", two_envs) == ["alpha", "beta"]
    assert complete("multidc status --name b", two_envs) == ["beta"]
    assert complete("multidc logs --name beta ", two_envs) == ["east", "west", "kms"]
    assert complete("multidc ui --name alpha s", two_envs) == ["secondary"]
    assert complete("multidc env --name beta w", two_envs) == ["west"]
    assert complete("multidc chaos kill --name beta ", two_envs) == ["east", "west", "kms"]
    assert "export" in complete("multidc ex", two_envs)


@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete")])
def test_completion_scripts_for_each_shell(shell: str, marker: str) -> None:
    out = multidc(env={"_MULTIDC_COMPLETE": f"{shell}_source"})
    assert out.returncode == 0 and marker in out.stdout and "_MULTIDC_COMPLETE" in out.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["logs", "primary", "--since", "soon"], "--since: 'soon' is not a duration"),
        (["logs", "primary", "--tail", "-1"], "--tail: -1 is not in the range"),
        (["logs"], "Missing argument 'DC|kms'"),
        (["status", "--watch", "--interval", "0"], "--interval: 0.0 is not in the range"),
        (["logs", "primary", "--name", "../x"], "--name:"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], says: str, tmp_path: Path) -> None:
    out = multidc(*args, env={"MULTIDC_STATE_DIR": str(tmp_path)})
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and says in out.stderr, out.stderr
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_a_non_empty_directory_before_anything(tmp_path: Path, two_envs: dict[str, str]) -> None:
    target = tmp_path / "full"
    target.mkdir()
    (target / "x").write_text("mine")
    out = multidc("export", "logs", str(target), "--name", "alpha", env=two_envs)
    assert out.returncode == 2 and "not an empty directory" in out.stderr and out.stderr.count("\n") == 1
    assert [p.name for p in target.iterdir()] == ["x"]


def test_a_missing_environment_is_exit_4(tmp_path: Path) -> None:
    for args in (["logs", "primary"], ["export", "logs", str(tmp_path / "b")], ["ui"], ["status", "--watch"]):
        out = multidc(*args, "--name", "nope", env={"MULTIDC_STATE_DIR": str(tmp_path / "s")})
        assert out.returncode == 4 and "no environment 'nope'" in out.stderr, args
    assert not (tmp_path / "b").exists()


def test_list_on_an_empty_host_and_the_ls_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    monkeypatch.setattr("multidc.providers.registry.NAMES", ())  # no provider scans the host here
    assert CliRunner().invoke(cli, ["list"]).output == "no multidc environments on this host\n"
    assert CliRunner().invoke(cli, ["ls", "--output", "json"]).output == "[]\n"
    assert " ls " not in CliRunner().invoke(cli, ["--help"]).output  # the alias is not listed twice


def test_secrets_are_read_from_the_state_directory_and_removed(tmp_path: Path) -> None:
    paths = EnvPaths(tmp_path / "e")
    write_secret(paths, "root-token", "s.AAAAAAAAAAAAAAAAAAAAAAAA")
    write_secret(paths, "recovery-keys", "key1key1key1key1\nkey2key2key2key2")
    write_secret(paths, "unsealer-primary.json", '{"kms_token": "s.UNSEALERUNSEALER", "node_url": "https://x"}')
    key = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBodyOfTheKey0123456789\n-----END EC PRIVATE KEY-----\n"
    (paths.root / "nodes" / "a").mkdir(parents=True)
    (paths.root / "nodes" / "a" / "tls.key").write_text(key)
    found = export.secrets_of(paths)
    keys = found["secrets/recovery-keys"]
    assert sorted(keys) == sorted(["key1key1key1key1\nkey2key2key2key2", "key1key1key1key1", "key2key2key2key2"])
    assert keys[0] == "key1key1key1key1\nkey2key2key2key2"  # the longest first: a whole value before its parts
    assert found["secrets/unsealer-primary.json"] == ["s.UNSEALERUNSEALER"]  # its token, not its addresses
    text = (
        b'{"token": "s.AAAAAAAAAAAAAAAAAAAAAAAA"} key2key2key2key2 s.UNSEALERUNSEALER MHcCAQEEIBodyOfTheKey0123456789 '
        + key.replace("EC ", "RSA ").encode()
    )
    counts: dict[str, int] = {}
    out = export.redact(text, found, counts)
    for secret in (b"s.AAAA", b"key2key2", b"s.UNSEALER", b"MHcCAQEEIBody"):
        assert secret not in out
    assert b"<redacted:secrets/root-token>" in out and b"<redacted:private key>" in out
    assert counts["secrets/root-token"] == 1 and counts["private key PEM"] == 1


def test_the_readme_usage_block_lists_every_command() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    usage = readme.split("## Usage", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    listed = {line.split()[1] for line in usage.splitlines() if line.startswith("multidc ")}
    commands = {name for name, command in cli.commands.items() if not command.hidden}
    assert commands | {"--version"} <= listed, sorted(commands - listed)
    assert "multidc status --watch" in usage and "# alias: ls" in usage


def test_list_says_creating_while_an_up_holds_the_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multidc import inventory, locks

    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    monkeypatch.setattr("multidc.providers.registry.NAMES", ())
    name = f"mtu{os.getpid() % 100000}"  # lock files are host-wide as root: a name of this test run
    State(env=name, topology={}, port_base=18200, binary={}, phase="creating").save(EnvPaths(tmp_path / name))
    with locks.hold(name, "up", tmp_path):
        (during,) = inventory.entries()
    (after,) = inventory.entries()
    assert during.health == "creating" and f"(pid {os.getpid()})" in during.detail
    assert after.health == "leftover" and "`up` never finished" in after.detail
