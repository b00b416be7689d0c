from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from multidc import topology
from multidc.cli import cli
from multidc.configure import _covers
from multidc.errors import TopologyError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "configured.yaml"


def problems(config: dict) -> list[str]:  # type: ignore[type-arg]
    with pytest.raises(TopologyError) as info:
        topology.parse({"configuration": config}, "t.yaml")
    return info.value.problems


def test_the_example_is_valid() -> None:
    topo = topology.load(EXAMPLE)
    assert [p.name for p in topo.configuration.policies] == ["allow_secrets", "allow_pki"]
    assert {s.mount for s in topo.configuration.secrets} == {"secret", "pki", "transit"}


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"auth": [{"type": "ldap"}]}, "configuration.auth[0].type: 'ldap' is not allowed"),
        ({"secrets": [{"type": "kv", "optionz": {}}]}, "configuration.secrets[0]: unknown key 'optionz'"),
        ({"policies": [{"name": "p", "rules": 'path "x" { capabilities = ["read" }'}]}, "do not parse as HCL"),
        (
            {"policies": [{"name": "p", "rules": 'path "x" { capabilities = ["reed"] }'}]},
            "unknown capabilities ['reed']",
        ),
        (
            {"auth": [{"type": "approle", "roles": [{"name": "r", "token_policies": ["nope"]}]}]},
            "configuration.auth[0].roles[r]: policy 'nope' is not defined",
        ),
        (
            {
                "auth": [{"type": "userpass", "users": [{"username": "u", "token_policies": "a,b"}]}],
                "policies": [{"name": "a", "rules": 'path "x" { capabilities = ["read"] }'}],
            },
            "policy 'b' is not defined",
        ),
        ({"auth": [{"type": "approle", "roles": [{"token_policies": ["default"]}]}]}, "an entry has no 'name'"),
        ({"secrets": [{"type": "kv"}, {"type": "kv", "path": "kv/"}]}, "path 'kv' is mounted twice"),
        ({"startupSecrets": [{"type": "vault", "path": "x", "data": {}}]}, "startupSecrets[0].type"),
    ],
)
def test_each_problem_is_one_line(config: dict, needle: str) -> None:  # type: ignore[type-arg]
    found = problems(config)
    assert any(needle in p for p in found), found
    assert all("\n" not in p and p.startswith("t.yaml") for p in found)


def test_cli_rejects_a_bad_configuration_before_anything(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('configuration:\n  policies:\n    - name: p\n      rules: \'path "x" { capabilities = ["read" }\'\n')
    result = CliRunner().invoke(cli, ["plan", "-f", str(bad)])
    assert result.exit_code == 2 and "do not parse as HCL" in result.output


def test_live_values_cover_the_file() -> None:
    assert _covers(
        {"token_policies": ["a", "b"], "token_ttl": 3600, "x": 1}, {"token_policies": "b,a", "token_ttl": "1h"}
    )
    assert not _covers({"token_policies": ["a"]}, {"token_policies": ["a", "b"]})
    assert _covers({"policies": ["a"]}, {"policies": "a", "password": "not readable"})
