"""Faults and verdicts on a real environment: a short verify must pass with linearizable reads configured and must
catch stale reads on OpenBao's default configuration."""

from __future__ import annotations

import json
import subprocess

import pytest

from multidc.providers.netns.faults import netem_available

from .conftest import Live

pytestmark = pytest.mark.integration
SHORT = ["verify", "--scenario", "leader-kill", "--scenario", "minority-partition", "--duration", "5"]


def test_linearizable_reads_pass(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = tmp_path / "lin.yaml"
    topo.write_text("server:\n  disable_standby_reads: true\n")
    env.run("up", "-f", str(topo))
    report = tmp_path / "report"
    out = env.run(*SHORT, "--report", str(report), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] is True
    for scenario in summary["scenarios"]:
        assert scenario["valid"] and scenario["lost_writes"] == [] and scenario["stale_reads"] == []
        assert scenario["healthy_after_heal"] and scenario["operations"] > 100
    kill = summary["scenarios"][0]
    assert kill["faults"][0]["label"].endswith("killed") and kill["leader_changes"]
    for name in ("leader-kill", "minority-partition"):
        assert (report / name / "history.jsonl").stat().st_size > 0
        assert (report / name / "timeline.svg").read_text().startswith("<svg")
    # the saved history checks the same way offline
    assert env.run("check", str(report / "leader-kill" / "history.jsonl"), check=False).returncode == 0


def test_default_configuration_shows_stale_reads(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    report = tmp_path / "report"
    out = env.run(*SHORT, "--report", str(report), check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "stale read:" in out.stdout and "disable_standby_reads" in out.stdout
    summary = json.loads((report / "summary.json").read_text())
    assert any(s["stale_reads"] for s in summary["scenarios"])
    assert all(s["healthy_after_heal"] for s in summary["scenarios"])
    assert env.run("check", str(report / "minority-partition" / "history.jsonl"), check=False).returncode == 1


def test_chaos_partition_stays_inside_the_environment(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    host_routes = subprocess.run(["ip", "-o", "route"], capture_output=True, text=True, check=False).stdout
    said = env.run("chaos", "partition", "tertiary").stdout
    assert "cut tertiary off from primary, secondary, kms" in said
    status = env.json("status")
    assert status["faults"]["partitions"] == [["tertiary"]]
    ns = f"mdc.{env.name}.dc.tertiary"
    routes = subprocess.run(["ip", "-n", ns, "route"], capture_output=True, text=True, check=False).stdout
    assert "blackhole 172.18.1.128" in routes and "blackhole 172.18.0.5" in routes
    assert subprocess.run(["ip", "-o", "route"], capture_output=True, text=True, check=False).stdout == host_routes
    assert "healed: removed" in env.run("chaos", "heal").stdout
    assert (
        "blackhole" not in subprocess.run(["ip", "-n", ns, "route"], capture_output=True, text=True, check=False).stdout
    )
    leader = next(n["dc"] for n in env.json("status")["nodes"] if n["role"] == "leader")
    assert "killed" in env.run("chaos", "kill", leader).stdout
    assert env.json("status")["faults"]["stopped"] == [leader]
    assert "started" in env.run("chaos", "start", leader).stdout
    unknown = env.run("chaos", "pause", "nowhere", check=False)
    assert unknown.returncode == 2 and "no datacenter 'nowhere'" in unknown.stderr
    if not netem_available(f"mdc.{env.name}.dc.primary", f"{env.name}-dc1"):
        delay = env.run("chaos", "delay", "primary", "secondary", "50", check=False)
        assert delay.returncode == 2 and "netem" in delay.stderr
