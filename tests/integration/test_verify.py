"""Faults and verdicts on a real environment: a short verify must pass with linearizable reads configured and must
catch stale reads on OpenBao's default configuration."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import requests

from .conftest import Live, host_network, wait_for

pytestmark = pytest.mark.integration
SHORT = ["verify", "--scenario", "leader-kill", "--scenario", "minority-partition", "--duration", "5"]


def test_linearizable_reads_pass(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = tmp_path / "lin.yaml"
    topo.write_text("server:\n  disable_standby_reads: true\n")
    env.run("up", "-f", str(topo))
    report = tmp_path / "report"
    out = env.run(*SHORT, "--scenario", "wan-leader-kill", "--report", str(report), check=False, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] is True
    assert len(summary["scenarios"]) == 3
    for scenario in summary["scenarios"]:
        assert scenario["valid"] and scenario["lost_writes"] == [] and scenario["stale_reads"] == []
        assert scenario["healthy_after_heal"] and scenario["ok"] > 10  # a workload ran, on any machine
    kill = summary["scenarios"][0]
    assert kill["faults"][0]["label"].endswith("killed") and kill["leader_changes"]
    for name in ("leader-kill", "minority-partition"):
        assert (report / name / "history.jsonl").stat().st_size > 0
        assert (report / name / "timeline.svg").read_text().startswith("<svg")
    # each fault is in the history as Jepsen writes the nemesis's ops (an invoke, then an info), the KMS and WAN too
    for name, fs in (("leader-kill", ["start-kill", "stop-kill"]), ("wan-leader-kill", ["start-delay", "start-kill"])):
        events = [json.loads(line) for line in (report / name / "history.jsonl").read_text().splitlines()]
        ops = [(e["type"], e["f"]) for e in events if e["process"] == "nemesis"]
        assert ops[: 2 * len(fs)] == [(t, f) for f in fs for t in ("invoke", "info")], ops
    # the saved history checks the same way offline (the faults' ops skipped)
    assert env.run("check", str(report / "leader-kill" / "history.jsonl"), check=False).returncode == 0


def test_default_configuration_shows_stale_reads(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    # Stale reads are likely, not certain, in one short run: up to three runs, each judged in full.
    for attempt in range(3):
        report = tmp_path / f"report{attempt}"
        out = env.run(*SHORT, "--report", str(report), check=False, timeout=600)
        summary = json.loads((report / "summary.json").read_text())
        assert all(s["healthy_after_heal"] for s in summary["scenarios"]), out.stdout
        assert all(s["lost_writes"] == [] for s in summary["scenarios"]), out.stdout
        if any(s["stale_reads"] for s in summary["scenarios"]):
            break
    else:
        raise AssertionError("three verify runs on the default configuration saw no stale read")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "stale read:" in out.stdout and "disable_standby_reads" in out.stdout
    stale = next(s["scenario"] for s in summary["scenarios"] if s["stale_reads"])
    assert env.run("check", str(report / stale / "history.jsonl"), check=False).returncode == 1


def test_the_other_scenarios_pass_with_linearizable_reads(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = tmp_path / "lin.yaml"
    topo.write_text("server:\n  disable_standby_reads: true\n")
    env.run("up", "-f", str(topo))
    report = tmp_path / "report"
    names = ["leader-partition", "primary-isolated", "kms-down-restart", "leader-pause"]
    args = [arg for name in names for arg in ("--scenario", name)]
    out = env.run("verify", *args, "--duration", "6", "--report", str(report), check=False, timeout=900)
    summary = json.loads((report / "summary.json").read_text())
    assert out.returncode == 0, out.stdout + out.stderr
    assert [s["scenario"] for s in summary["scenarios"]] == names
    for scenario in summary["scenarios"]:
        assert scenario["passed"] and scenario["healthy_after_heal"] and scenario["lost_writes"] == [], scenario
    checks = summary["scenarios"][2]["checks"]
    follower = next(k.split("_")[0] for k in checks)
    # transit: the restarted follower exits (it cannot reach the seal), so it never serves while the KMS is down ...
    assert checks[f"{follower}_while_kms_down"] == "down", checks
    assert "exited at once" in checks[f"{follower}_start_while_kms_down"], checks
    # ... and comes back unsealed by itself once the KMS is back.
    assert isinstance(checks[f"{follower}_unsealed_after_kms_up_s"], float), checks


def test_chaos_partition_stays_inside_the_environment(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    host = host_network(env.name)
    said = env.run("chaos", "partition", "tertiary").stdout
    assert "cut tertiary off from primary, secondary, kms" in said
    status = env.json("status")
    assert status["faults"]["partitions"] == [["tertiary"]]
    # A cut-off follower keeps answering through its published port (sampled over ~3 s).
    tertiary = next(n for n in status["nodes"] if n["dc"] == "tertiary")
    assert tertiary["role"] == "follower" and tertiary["reachable"], tertiary
    ca = str(env.state_dir / env.name / "ca.crt")
    for _ in range(6):
        assert requests.get(tertiary["host_url"] + "/v1/sys/seal-status", verify=ca, timeout=2).status_code == 200
        time.sleep(0.5)
    ns = f"mdc.{env.name}.dc.tertiary"
    routes = subprocess.run(["ip", "-n", ns, "route"], capture_output=True, text=True, check=False).stdout
    cut = f"dev {env.name}-cut"
    assert f"172.18.1.128 {cut}" in routes and f"172.18.0.5 {cut}" in routes, routes
    # As on a cut link, a connection attempt across the cut times out (it is not refused, nor failed at once).
    assert _connect_outcome(env, "tertiary", "172.18.1.128") == "timed out"
    assert host_network(env.name) == host
    assert "healed: removed" in env.run("chaos", "heal").stdout
    assert (
        f"{env.name}-cut"
        not in subprocess.run(["ip", "-n", ns, "link"], capture_output=True, text=True, check=False).stdout
    )
    leader = next(n["dc"] for n in env.json("status")["nodes"] if n["role"] == "leader")
    assert "killed" in env.run("chaos", "kill", leader).stdout
    assert env.json("status")["faults"]["stopped"] == [leader]
    assert "started" in env.run("chaos", "start", leader).stdout
    env.run("chaos", "pause", leader)
    env.run("chaos", "partition", leader)
    assert env.run("chaos", "clear").stdout.strip() == "undid every fault"
    assert env.json("status")["faults"] == {}
    unknown = env.run("chaos", "pause", "nowhere", check=False)
    assert unknown.returncode == 2 and "no datacenter 'nowhere'" in unknown.stderr


def _connect_outcome(env: Live, dc: str, address: str) -> str:
    """How one TCP connect from inside dc's namespace to address:8200 ends: connected, timed out, or the error."""
    code = f"""
import socket
from multidc.providers.netns.setns import enter
enter("mdc.{env.name}.dc.{dc}")
try:
    socket.create_connection(("{address}", 8200), timeout=1).close()
    print("connected")
except TimeoutError:
    print("timed out")
except OSError as exc:
    print(exc.strerror)
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def _connect_seconds(env: Live, dc: str, address: str) -> float:
    """The fastest of three TCP connects from inside dc's namespace to address:8200 (inf when it cannot connect)."""
    code = f"""
import socket, time
from multidc.providers.netns.setns import enter
enter("mdc.{env.name}.dc.{dc}")
best = float("inf")
for _ in range(3):
    start = time.monotonic()
    try:
        socket.create_connection(("{address}", 8200), timeout=2).close()
    except OSError:
        continue
    best = min(best, time.monotonic() - start)
print(best)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return float(out)


@pytest.mark.skipif(not os.path.exists("/dev/net/tun"), reason="delay needs /dev/net/tun (modprobe tun)")
def test_chaos_delay_holds_packets_between_two_dcs_only(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    host = host_network(env.name)
    said = env.run("chaos", "delay", "primary", "secondary", "300").stdout
    assert "delayed every packet between primary and secondary by 300 ms each way" in said
    # A TCP connect is one round trip: the SYN waits on one side, the SYN-ACK on the other.
    assert _connect_seconds(env, "primary", "172.18.2.128") >= 0.6
    assert _connect_seconds(env, "secondary", "172.18.0.2") >= 0.6
    # Not delayed: anything below the 0.6 s a 300 ms delay forces (a loaded machine may be slow, never that slow).
    assert _connect_seconds(env, "primary", "172.18.3.128") < 0.6  # tertiary is not delayed
    assert _connect_seconds(env, "tertiary", "172.18.2.128") < 0.6
    status = env.json("status")
    assert status["healthy"], status["problems"]  # 300 ms each way is well inside Raft's timeouts here
    assert status["faults"]["links"] == {"primary,secondary": {"ms": 300}}
    # A cut on top of a delay is a cut; heal removes both.
    env.run("chaos", "partition", "secondary")
    assert _connect_seconds(env, "primary", "172.18.2.128") == float("inf")
    assert "cut route(s) and 1 shaped link(s)" in env.run("chaos", "heal").stdout
    assert _connect_seconds(env, "primary", "172.18.2.128") < 0.6
    ns = f"mdc.{env.name}.dc.primary"
    assert f"{env.name}-dly" not in subprocess.run(["ip", "-n", ns, "link"], capture_output=True, text=True).stdout
    assert "delayer" not in env.state()["pids"]
    assert host_network(env.name) == host
    # Changing and removing one pair's delay
    env.run("chaos", "delay", "tertiary", "kms", "200")
    assert _connect_seconds(env, "tertiary", "172.18.0.5") >= 0.4
    assert "removed the delay between kms and tertiary" in env.run("chaos", "delay", "kms", "tertiary", "0").stdout
    assert "no delay between kms and tertiary" in env.run("chaos", "delay", "kms", "tertiary", "0").stdout
    assert _connect_seconds(env, "tertiary", "172.18.0.5") < 0.4  # below what the removed 200 ms would force
    assert "links" not in env.json("status")["faults"]
    for bad in (["primary", "primary", "5"], ["primary", "nowhere", "5"], ["primary", "secondary", "-1"]):
        out = env.run("chaos", "delay", *bad, check=False)
        assert out.returncode == 2, out.stdout + out.stderr


@pytest.mark.skipif(not os.path.exists("/dev/net/tun"), reason="cuts that drop and loss need /dev/net/tun")
def test_one_way_cuts_bridges_loss_and_jitter_do_what_they_say(live) -> None:  # type: ignore[no-untyped-def]
    from .probes import delivered, echo_round_trips

    env: Live = live()
    env.run("up")
    ns = {dc: f"mdc.{env.name}.dc.{dc}" for dc in ("primary", "secondary", "tertiary")}
    addr = {n["name"]: n["address"] for n in env.json("plan")["datacenters"]}
    host = host_network(env.name)
    # one way: primary's packets to secondary vanish, secondary's to primary arrive
    said = env.run("chaos", "one-way", "primary", "secondary").stdout
    assert "dropping every packet from primary to secondary" in said
    assert delivered(ns["primary"], ns["secondary"], addr["secondary"], count=200) == 0
    assert delivered(ns["secondary"], ns["primary"], addr["primary"], count=200) == 200
    assert env.json("status")["faults"]["one-way"] == [["primary", "secondary"]]
    env.run("chaos", "heal")
    # bridge through secondary: primary and tertiary cannot reach each other, secondary reaches both
    assert "secondary reaches both" in env.run("chaos", "bridge", "secondary").stdout
    assert delivered(ns["primary"], ns["tertiary"], addr["tertiary"], count=200) == 0
    assert delivered(ns["tertiary"], ns["primary"], addr["primary"], count=200) == 0
    for a, b in (("primary", "secondary"), ("secondary", "tertiary"), ("tertiary", "secondary")):
        assert delivered(ns[a], ns[b], addr[b], count=200) == 200, (a, b)
    status = env.json("status")
    # a majority stays together through the bridge DC, so there is a leader (autopilot may call the DC cut off from
    # it unhealthy: it cannot hear from it)
    assert [n["dc"] for n in status["nodes"] if n["role"] == "leader"], status
    env.run("chaos", "heal")
    # loss: 30% each way over 1000 datagrams; the binomial's standard deviation is 14.5, these bounds are 7 of it
    assert (
        "dropping 30% of the packets between primary and tertiary"
        in env.run("chaos", "loss", "primary", "tertiary", "30").stdout
    )
    got = delivered(ns["primary"], ns["tertiary"], addr["tertiary"])
    assert 600 <= got <= 800, got
    assert delivered(ns["primary"], ns["secondary"], addr["secondary"], count=200) == 200  # other pairs: no loss
    env.run("chaos", "loss", "primary", "tertiary", "0")
    # jitter: 40 ms ± 20 each way, so a round trip lies in [40, 120] ms and varies
    env.run("chaos", "delay", "primary", "tertiary", "40", "--jitter", "20")
    assert env.json("status")["faults"]["links"] == {"primary,tertiary": {"ms": 40, "jitter": 20}}
    times = echo_round_trips(ns["primary"], ns["tertiary"], addr["tertiary"], count=100)
    assert len(times) == 100 and min(times) >= 39 and max(times) - min(times) > 20, times
    bad = env.run("chaos", "delay", "primary", "tertiary", "10", "--jitter", "11", check=False)
    assert bad.returncode == 2 and "jitter of 11 ms is out of range" in bad.stderr
    assert "shaped link" in env.run("chaos", "heal").stdout
    assert host_network(env.name) == host


def test_a_random_schedule_runs_heals_and_replays_the_same_faults(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = tmp_path / "lin.yaml"
    topo.write_text("server:\n  disable_standby_reads: true\n")
    env.run("up", "-f", str(topo))
    report = tmp_path / "report"
    args = ["verify", "--nemesis", "random", "--seed", "11", "--duration", "10"]
    workloads = ["--workload", "register,set,tokens,pki"]
    out = env.run(*args, *workloads, "--report", str(report), check=False, timeout=600)
    printed = _schedule_lines(out.stdout)
    assert out.stdout.startswith(
        "schedule (seed 11, 10s, faults: kill, pause, partition, one-way, bridge, delay, loss, kms):"
    )
    saved = json.loads((report / "random-11" / "schedule.json").read_text())
    assert saved["seed"] == 11 and len(saved["faults"]) == len(printed) - 1 >= 3
    verdict = json.loads((report / "random-11" / "verdict.json").read_text())
    # every run ends healed and healthy before the final reads; disable_standby_reads makes reads linearizable
    assert verdict["healthy_after_heal"] and out.returncode == 0, out.stdout + out.stderr
    assert verdict["valid"] and verdict["lost_writes"] == [] and verdict["seed"] == 11
    assert sorted(verdict["invariants"]) == ["pki", "set", "tokens"]
    for name, invariant in verdict["invariants"].items():
        assert invariant["valid"], invariant
        assert (report / "random-11" / f"history-{name}.jsonl").stat().st_size > 0
    assert [f["label"] for f in verdict["faults"]] and all(f["end"] is not None for f in verdict["faults"])
    assert env.json("status")["faults"] == {}
    # the replay runs the same schedule (the same lines printed), from the file alone
    again = env.run("verify", "--replay", str(report / "random-11" / "schedule.json"), check=False, timeout=600)
    assert _schedule_lines(again.stdout) == printed, again.stdout
    bad = env.run("verify", "--replay", str(topo), check=False)
    assert bad.returncode == 2 and "not JSON" in bad.stderr, bad.stderr


def _schedule_lines(stdout: str) -> list[str]:
    """What verify printed of its schedule: the head line and one line per fault."""
    return [line for line in stdout.splitlines() if line.startswith("schedule (") or re.match(r"^\s+[\d.]+s - ", line)]


def test_set_tokens_and_pki_under_random_faults_with_standby_reads_served(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """OpenBao's default configuration: standbys serve reads from their own copy. The register sees stale reads there.
    The set and pki invariants are judged once each DC has caught up, so they must hold. Tokens may not: a standby
    asked to revoke an accessor it has not replicated yet answers on its own (200 with the warning "No token found with
    this accessor", or 400), without forwarding, and the token stays valid: 'revoked but valid' is then a finding, and
    the only one allowed here."""
    env: Live = live()
    env.run("up")
    report = tmp_path / "report"
    args = ["verify", "--nemesis", "random", "--seed", "12", "--duration", "10", "--workload", "set,tokens,pki"]
    out = env.run(*args, "--report", str(report), check=False, timeout=600)
    summary = json.loads((report / "summary.json").read_text())
    [run] = summary["scenarios"]
    assert run["server_standby_reads"] == "served" and summary["workloads"] == ["set", "tokens", "pki"]
    assert run["healthy_after_heal"] and not run["problems"], out.stdout + out.stderr
    invariants = run["invariants"]
    assert invariants["set"]["valid"] and invariants["pki"]["valid"], out.stdout
    assert all(invariants[w]["counts"] for w in ("set", "tokens", "pki"))
    found = {k for k, v in invariants["tokens"]["anomalies"].items() if v}
    assert found <= {"revoked but valid"}, invariants["tokens"]
    assert out.returncode == (1 if found else 0), out.stdout
    # No register ran: the history holds only the faults, as Jepsen writes its nemesis's operations.
    faults = [json.loads(line) for line in (report / "random-12" / "history.jsonl").read_text().splitlines()]
    assert faults and all(e["process"] == "nemesis" for e in faults), faults[:3]


def test_ctrl_c_on_a_random_run_undoes_every_fault(live, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    args = [sys.executable, "-m", "multidc", "verify", "--name", env.name, "--nemesis", "random", "--seed", "4"]
    proc = subprocess.Popen(
        [*args, "--duration", "60", "--faults", "kill,pause,partition,one-way,delay"],
        env=env.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not env.state()["faults"]:  # wait for the first fault to be in force
            assert time.monotonic() < deadline and proc.poll() is None, "no fault within 60 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, out + err
    assert "interrupted: undoing every fault" in err and "multidc: interrupted" in err
    assert env.json("status")["faults"] == {}
    wait_for(lambda: env.json("status")["healthy"], 60, "healthy again after the interrupted run")  # servers restarted
