"""What a demanding user and a security reviewer tried: concurrent commands, interrupts, crashes mid-way, a KMS
outage with a crash, and a partitioned leader. Real namespaces, real OpenBao."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import hvac
import pytest
import requests

from .conftest import Live, leftovers, wait_for

pytestmark = pytest.mark.integration


def start(env: Live, *args: str) -> subprocess.Popen[str]:
    """A multidc command in its own process group, as a terminal runs it (Ctrl-C reaches the whole group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "multidc", *args, "--name", env.name],
        env=env.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_concurrent_ups_of_one_name_and_of_two_names(live) -> None:  # type: ignore[no-untyped-def]
    a: Live = live()
    b: Live = live()
    procs = [start(a, "up"), start(a, "up"), start(b, "up")]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    for code, out, err in results:
        assert code == 0, out + err
    said = sorted(out for _, out, _ in results[:2])
    assert "already up and healthy" in said[0] and "is healthy" in said[1], said
    assert any("Waiting for `multidc up`" in err for _, _, err in results[:2]), [e for _, _, e in results[:2]]
    # Both environments healthy, side by side, each on its own block of host ports with its own forwarder.
    assert a.json("status")["healthy"] and b.json("status")["healthy"]
    assert abs(a.state()["port_base"] - b.state()["port_base"]) >= 10  # disjoint blocks
    assert a.state()["pids"]["forwarder"] != b.state()["pids"]["forwarder"]

    # Another job (another state directory) using the same name must not take `a` for its leftovers.
    elsewhere = a.state_dir.parent / "another-job"
    other = Live(a.name, elsewhere, {**a.env, "MULTIDC_STATE_DIR": str(elsewhere)})
    for command in ("up", "down"):
        refused = other.run(command, check=False)
        assert refused.returncode == 2 and "belongs to the state directory" in refused.stderr, refused.stderr
    assert a.json("status")["healthy"]


def test_a_foreign_listener_is_not_taken_for_the_forwarder(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    spec = tmp_path / "fwd.json"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        spec.write_text(json.dumps({"namespace": "none", "routes": [{"port": port, "host": "x", "target_port": 1}]}))
        read_end, write_end = os.pipe()
        proc = subprocess.run(
            [sys.executable, "-m", "multidc.providers.netns.forwarder", str(spec), str(write_end)],
            pass_fds=(write_end,),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        os.close(write_end)
        with os.fdopen(read_end) as report:
            said = report.read()
    assert proc.returncode == 1
    assert said.startswith(f"cannot bind 127.0.0.1:{port}") and "in use" in said, said
    assert leftovers(env.name, env.state_dir) == []


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.03, 0.08])
def test_ctrl_c_while_creating_the_site_network_stops_and_removes(live, delay: float) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    proc = start(env, "up")
    assert proc.stderr is not None
    wait_for(lambda: "Writing certificates" in proc.stderr.readline(), 60, "the first step")
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Removed what was made" in err, err
    assert leftovers(env.name, env.state_dir) == []


def test_down_after_sigkill_of_up_finds_everything_from_namespaces_and_processes(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    proc = start(env, "up")
    assert proc.stderr is not None
    wait_for(lambda: "Starting KMS" in proc.stderr.readline(), 60, "the KMS started")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Lose the state directory too: what is left must still be found from the namespaces and their processes.
    shutil.rmtree(env.state_dir / env.name)
    assert any(item.startswith("namespace") for item in leftovers(env.name, env.state_dir))
    # ... and a tombstone of an earlier `down` that was killed half-way (its process is gone).
    gone = subprocess.Popen(["true"])
    gone.wait()
    tomb = env.state_dir / ".removing" / f"{env.name}.{gone.pid}.1"
    (tomb / "secrets").mkdir(parents=True)
    (tomb / "secrets" / "root-token").write_text("hvs.x")
    # `up` removes all of it first, then comes up healthy.
    up = env.run("up")
    assert "Removing leftovers" in up.stderr and "is healthy" in up.stdout, up.stderr
    assert not tomb.exists()
    down = env.run("down")
    assert "removed" in down.stdout
    assert leftovers(env.name, env.state_dir) == []


def test_a_node_started_while_the_kms_is_down_comes_back_with_the_kms(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    env.run("chaos", "kms-down")
    env.run("chaos", "kill", "secondary")
    started = env.run("chaos", "start", "secondary", check=False)
    assert started.returncode == 1, started.stdout + started.stderr
    assert 'Error configuring seal "transit"' in started.stderr and "chaos kms-up" in started.stderr
    assert len(started.stderr.strip().splitlines()) == 1
    status = env.run("status", check=False)
    assert status.returncode == 1  # unhealthy is exit 1
    assert "exited when started (starts again with the KMS): secondary" in status.stdout
    row = next(line.split() for line in status.stdout.splitlines() if line.startswith("secondary"))
    assert row[3:6] == ["down", "?", "?"], row
    node = next(n for n in env.json("status")["nodes"] if n["dc"] == "secondary")
    assert node["sealed"] is None and node["voter"] is None

    unknown = env.run("env", "nowhere", check=False)
    assert unknown.returncode == 2 and "no datacenter 'nowhere'" in unknown.stderr, unknown.stderr

    kms_before = env.exports("kms")
    said = env.run("chaos", "kms-up").stdout
    # The KMS runs in memory (the default): it came back empty and multidc gave it the same key and tokens again, so
    # the node that exited unseals through it, and the KMS token `env kms` printed before still works.
    assert "in memory" in said and "started secondary again" in said, said
    wait_for(lambda: env.run("status", check=False).returncode == 0, 60, "healthy after kms-up")
    assert "exited" not in env.json("status")["faults"]
    assert env.exports("kms") == kms_before
    kms = hvac.Client(kms_before["BAO_ADDR"], token=kms_before["BAO_TOKEN"], verify=kms_before["BAO_CACERT"])
    assert kms.lookup_token()["data"]["policies"] == ["root"]
    assert f"{env.name}-autounseal" in kms.secrets.transit.list_keys()["data"]["keys"]
    env.run("chaos", "kill", "tertiary")  # and a node restarted now auto-unseals through the re-made KMS
    assert "started tertiary's server" in env.run("chaos", "start", "tertiary").stdout
    wait_for(lambda: env.run("status", check=False).returncode == 0, 60, "healthy after restarting tertiary")

    # The recorded topology is the environment: `up` with another one is refused, `up` alone keeps it.
    other = tmp_path / "other.yaml"
    other.write_text("datacenters: [a, b, c]\n")
    refused = env.run("up", "-f", str(other), check=False)
    assert refused.returncode == 2 and "different topology" in refused.stderr


def test_a_partitioned_leader_with_the_kms_cut_off_stops_answering_until_transit_times_out(live) -> None:  # type: ignore[no-untyped-def]
    """Measured OpenBao behaviour (README, "What faults do"): a leader that loses quorum steps down into a read
    standby, whose setup re-wraps its keys through the transit seal while holding the state lock; with the KMS cut
    off too, even sys/seal-status waits (up to the transit client's 60 s timeout). With the KMS on its side it
    keeps answering. Both must hold through the published port; after heal it answers again."""
    env: Live = live()
    env.run("up")
    status = env.json("status")
    leader = next(n for n in status["nodes"] if n["role"] == "leader")
    url, ca = leader["host_url"] + "/v1/sys/seal-status", str(env.state_dir / env.name / "ca.crt")

    def answers() -> bool:
        try:
            return requests.get(url, verify=ca, timeout=1).status_code == 200
        except requests.RequestException:
            return False

    env.run("chaos", "partition", f"{leader['dc']},kms")
    for _ in range(10):  # with the KMS on its side: it answers throughout (sampled over ~5 s)
        assert answers()
        time.sleep(0.5)
    env.run("chaos", "heal")
    wait_for(lambda: env.run("status", check=False).returncode == 0, 60, "healthy after the first cut")

    leader = next(n for n in env.json("status")["nodes"] if n["role"] == "leader")
    url = leader["host_url"] + "/v1/sys/seal-status"
    env.run("chaos", "partition", leader["dc"])
    wait_for(lambda: not answers(), 30, "the cut-off leader stops answering")
    env.run("chaos", "heal")
    wait_for(answers, 90, "it answers again after heal")
    wait_for(lambda: env.run("status", check=False).returncode == 0, 90, "healthy after heal")
