from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from multidc.cli import cli
from multidc.errors import PrerequisiteError
from multidc.providers.netns import namespaces
from multidc.providers.netns.plan import namespace_prefix


def test_plan_json_touches_nothing_and_redacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["plan", "--name", "p1", "--output", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [d["vip"] for d in data["datacenters"]] == ["172.18.1.128", "172.18.2.128", "172.18.3.128"]
    assert data["datacenters"][1]["config"]["seal"]["transit"]["token"] == "<redacted>"
    # p1's namespaces only: the other worker's live tests make and remove their own meanwhile
    made = [n for n in namespaces.existing() if n.startswith(namespace_prefix("p1"))]
    assert made == [] and not (tmp_path / "p1").exists()


def test_plan_text_lists_every_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path))
    out = CliRunner().invoke(cli, ["plan"]).output
    for needle in ["mdc.multidc.dc.secondary", "multidc-dc3", "172.18.0.5", "https://127.0.0.1:18200", '"retry_join"']:
        assert needle in out


def test_bad_topology_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "t.yaml"
    bad.write_text("network: 10.0.0.0/24\ndatacenters: [a]\n")
    result = CliRunner().invoke(cli, ["plan", "-f", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"multidc: {bad}: network: 10.0.0.0/24 holds 0 default load-balancer pool(s) (the upper half of each /24 "
        "after the first) but there are 1 datacenters; use a larger network (e.g. a /23 or more) or give each "
        "datacenter an explicit pool"
    ]


def test_missing_server_binary_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", "--server-binary", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "server binary" in result.output and "not found" in result.output


def test_not_root_is_refused_before_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(namespaces.os, "geteuid", lambda: 1000)
    with pytest.raises(PrerequisiteError, match="needs root"):
        namespaces.check_host()


def test_status_describes_active_faults_for_people() -> None:
    from multidc.cli.render import describe_fault as _describe_fault

    assert _describe_fault("partitions", [["tertiary"], ["kms", "primary"]]) == "partitions: tertiary | kms,primary"
    assert _describe_fault("delays", {"primary,tertiary": 40}) == "links: primary-tertiary +40 ms"  # older state files
    assert (
        _describe_fault("links", {"primary,tertiary": {"ms": 40, "loss": 2}})
        == "links: primary-tertiary +40 ms, 2% loss"
    )
    assert _describe_fault("stopped", ["secondary"]) == "stopped: secondary"
    assert _describe_fault("kms", ["down"]) == "kms: down"
