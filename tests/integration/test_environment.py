"""End to end, as a user: up -> status -> their own bao CLI through `multidc env` -> a node killed -> down."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from multidc.binaries import packaged_openbao

from .conftest import Live, host_network, leftovers, wait_for

pytestmark = pytest.mark.integration


def bao(exports: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    binary = str(packaged_openbao())
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("BAO_", "VAULT_"))}, **exports}
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=30, check=False)


def kill_and_restart(live: Live, dc: str) -> None:
    pid = live.state()["pids"][f"node:{dc}"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text(), 10, "exit")
    status = live.json("status")
    assert status["healthy"] is False
    assert {n["dc"]: n["role"] for n in status["nodes"]}[dc] == "down"
    assert live.run("status", check=False).returncode == 1  # unhealthy: exit 1
    again = live.json("up")  # brings back what is missing, nothing else
    assert again["healthy"] is True and again["restarted"] == [dc]
    assert live.state()["pids"][f"node:{dc}"] != pid


def test_default_topology_with_transit_unseal(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    up = env.json("up")
    assert up["healthy"] is True, up
    assert set(up["datacenters"]) == {"primary", "secondary", "tertiary"}

    status = env.json("status")
    assert status["healthy"] is True and status["problems"] == []
    assert sorted(n["role"] for n in status["nodes"]) == ["follower", "follower", "leader"]
    assert all(n["voter"] and not n["sealed"] for n in status["nodes"])
    text = env.run("status").stdout
    assert "healthy: 3 voters" in text and "172.18.2.128" in text

    # The user's own CLI, through each DC's published port, trusting the environment's CA.
    for i, dc in enumerate(["primary", "secondary", "tertiary"]):
        exports = env.exports(dc)
        assert exports["BAO_ADDR"] == exports["VAULT_ADDR"] and exports["BAO_ADDR"].startswith("https://127.0.0.1:")
        put = bao(exports, "kv", "put", f"secret/from-{dc}", f"n={i}")
        assert put.returncode == 0, put.stderr
    for dc in ["primary", "secondary", "tertiary"]:
        for src in ["primary", "secondary", "tertiary"]:
            deadline = time.monotonic() + 3
            while True:
                got = bao(env.exports(dc), "kv", "get", "-field=n", f"secret/from-{src}")
                if got.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert got.stdout.strip() == str(["primary", "secondary", "tertiary"].index(src)), got.stderr

    # Secrets stay private and out of the output.
    root = env.state_dir / env.name
    token = (root / "secrets" / "root-token").read_text().strip()
    assert token not in env.run("up").stdout
    assert oct((root / "secrets").stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in (root / "secrets").iterdir())
    assert oct(root.stat().st_mode & 0o777) == "0o700"

    # The transit seal's token can use the key and nothing else.
    kms = hvac.Client(
        env.exports("kms")["BAO_ADDR"],
        token=(root / "secrets" / "seal-token").read_text().strip(),
        verify=str(root / "ca.crt"),
    )
    key = f"{env.name}-autounseal"
    sealed = kms.secrets.transit.encrypt_data(name=key, plaintext="aGk=")["data"]["ciphertext"]
    assert kms.secrets.transit.decrypt_data(name=key, ciphertext=sealed)["data"]["plaintext"] == "aGk="
    me = kms.auth.token.lookup_self()["data"]
    assert me["renewable"] is True and "default" not in me["policies"]
    assert kms.auth.token.renew_self()["auth"]["lease_duration"] > 0  # it can keep itself alive
    with pytest.raises(hvac.exceptions.Forbidden):
        kms.sys.list_mounted_secrets_engines()
    with pytest.raises(hvac.exceptions.Forbidden):
        kms.secrets.transit.create_key(name="another")

    # A node killed with SIGKILL comes back a voter, unsealed through the KMS without help.
    leader = next(n["dc"] for n in status["nodes"] if n["role"] == "leader")
    kill_and_restart(env, leader)

    already = env.run("up")
    assert "already up and healthy" in already.stdout

    down = env.run("down")
    assert "removed" in down.stdout
    assert leftovers(env.name, env.state_dir) == []
    assert "nothing to remove" in env.run("down").stdout  # idempotent


def test_kv_unseal_mode_is_the_seed_flow(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = env.state_dir.parent / "kv.yaml"
    topo.write_text("unseal: kv\n")
    up = env.json("up", "-f", str(topo))
    assert up["healthy"] is True, up
    root = env.state_dir / env.name
    kms = hvac.Client(
        env.exports("kms")["BAO_ADDR"], token=env.exports("kms")["BAO_TOKEN"], verify=str(root / "ca.crt")
    )
    stored = kms.secrets.kv.v2.read_secret_version(
        path="vault-unseal-keys", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]
    assert sorted(stored) == ["vault-root", *(f"vault-unseal-{i}" for i in range(5))]
    assert stored["vault-root"] == env.exports("primary")["BAO_TOKEN"]
    assert bao(env.exports("primary"), "status").returncode == 0
    # Every DC has an unsealer, a thread of one process living in that DC's network namespace; a killed node is
    # unsealed by it from the keys in the KMS.
    pid = env.state()["pids"]["unsealers"]
    threads = {os.readlink(f"/proc/{pid}/task/{t}/ns/net") for t in os.listdir(f"/proc/{pid}/task")}
    dcs = ("primary", "secondary", "tertiary")
    dc_namespaces = {f"net:[{os.stat(f'/run/netns/mdc.{env.name}.dc.{dc}').st_ino}]" for dc in dcs}
    assert dc_namespaces <= threads, (threads, dc_namespaces)
    # Joined at once (no retry_join at their first start, so nothing races the join); retry_join is back in every
    # config for any later start.
    for dc in ("primary", "secondary", "tertiary"):
        config = json.loads((root / "nodes" / dc / "config.json").read_text())
        assert len(config["storage"]["raft"]["retry_join"]) == 2, dc
    for dc in ("secondary", "tertiary"):  # joined by the request alone: their servers never tried a retry join
        assert "raft retry join initiated" not in (root / "nodes" / dc / "server.log").read_text(), dc
    # At `up` multidc itself submits the keys right after the join (the unsealer may have too); after a restart only
    # the unsealer is there to.
    unsealed = "unsealed with the keys from the KMS"
    before = (root / "nodes" / "secondary" / "unsealer.log").read_text().count(unsealed)
    kill_and_restart(env, "secondary")
    log = root / "nodes" / "secondary" / "unsealer.log"
    wait_for(lambda: log.read_text().count(unsealed) > before, 10, "the unsealer's line for the restarted node")

    # The unsealers' token reads the keys and nothing else.
    unsealer = hvac.Client(
        env.exports("kms")["BAO_ADDR"],
        token=(root / "secrets" / "unsealer-token").read_text().strip(),
        verify=str(root / "ca.crt"),
    )
    assert unsealer.secrets.kv.v2.read_secret_version(
        path="vault-unseal-keys", mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]["vault-root"]
    with pytest.raises(hvac.exceptions.Forbidden):
        unsealer.secrets.kv.v2.create_or_update_secret(
            path="vault-unseal-keys", secret={"x": "y"}, mount_point="secret"
        )
    with pytest.raises(hvac.exceptions.Forbidden):
        unsealer.secrets.kv.v2.read_secret_version(path="other", mount_point="secret", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        unsealer.sys.list_mounted_secrets_engines()

    # kv mode, KMS down: a restarted node starts and stays sealed; its unsealer unseals it once the KMS is back.
    env.run("chaos", "kms-down")
    env.run("chaos", "kill", "tertiary")
    assert "started tertiary's server" in env.run("chaos", "start", "tertiary").stdout
    node = next(n for n in env.json("status")["nodes"] if n["dc"] == "tertiary")
    assert node["reachable"] and node["sealed"] is True and node["role"] == "sealed", node
    env.run("chaos", "kms-up")
    wait_for(lambda: env.run("status", check=False).returncode == 0, 60, "healthy after kms-up")

    # `up` without -f means the recorded (kv) topology, not the defaults.
    again = env.json("up")
    assert again["healthy"] is True and again["already_up"] is True, again


def test_five_datacenters(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = env.state_dir.parent / "five.yaml"
    topo.write_text("datacenters: [ams, fra, lon, par, mad]\nkms: {storage: raft}\n")
    up = env.json("up", "-f", str(topo))
    assert up["healthy"] is True, up
    status = env.json("status")
    assert len(status["nodes"]) == 5 and all(n["voter"] for n in status["nodes"])
    assert [n["vip"] for n in status["nodes"]] == [f"172.18.{i}.128" for i in range(1, 6)]
    # A KMS on raft keeps its data: a restart only unseals it, and a node restarted afterwards auto-unseals.
    config = json.loads((env.state_dir / env.name / "kms" / "config.json").read_text())
    assert list(config["storage"]) == ["raft"]
    env.run("chaos", "kms-down")
    assert "unsealed it with its key" in env.run("chaos", "kms-up").stdout
    env.run("chaos", "kill", "par")
    env.run("chaos", "start", "par")
    wait_for(lambda: env.run("status", check=False).returncode == 0, 60, "healthy after restarting par")


@contextlib.contextmanager
def occupied_port() -> Iterator[int]:
    """A port in host_port_base's range (1024-65000) that this test holds open: no guess about neighbours."""
    for candidate in range(20000, 65000, 7):
        busy = socket.socket()
        try:
            busy.bind(("127.0.0.1", candidate))
        except OSError:
            busy.close()
            continue
        busy.listen()
        try:
            yield candidate
        finally:
            busy.close()
        return
    raise AssertionError("no bindable port between 20000 and 65000")


def test_bad_input_creates_nothing(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    bad = tmp_path / "bad.yaml"
    bad.write_text("datacenters: [a, a]\n")
    out = env.run("up", "-f", str(bad), check=False)
    assert out.returncode == 2 and "listed twice" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert leftovers(env.name, env.state_dir) == []

    with occupied_port() as port:
        bad.write_text(f"host_port_base: {port}\n")  # the KMS's port is the base itself: the one we hold
        out = env.run("up", "-f", str(bad), check=False)
    assert out.returncode == 2 and f"127.0.0.1:{port} is in use by another process" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr  # refused before anything: nothing to remove
    assert leftovers(env.name, env.state_dir) == []

    missing = env.run("status", check=False)
    assert missing.returncode == 4 and "no environment" in missing.stderr


def failing_server(tmp_path: Path, first: str = "") -> Path:
    """A server binary that says it is OpenBao 2.7.2, then fails to start (after running `first`)."""
    fake = tmp_path / "fakebao"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = version ]; then echo "OpenBao v2.7.2"; exit 0; fi\n'
        f'{first}echo "Error parsing config: simulated failure" >&2; exit 1\n'
    )
    fake.chmod(0o755)
    return fake


def test_failed_up_names_the_step_and_cleans_up(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    fake = failing_server(tmp_path)
    out = env.run("up", "--server-binary", str(fake), check=False)
    assert out.returncode == 1
    # The KMS starts first, in a network namespace of its own that the site network then names: a server that ends
    # at once is seen there, or when the KMS is waited for.
    why = "the kms server exited: Error parsing config: simulated failure"
    assert f"Creating site network: {why}" in out.stderr or f"Starting KMS: {why}" in out.stderr, out.stderr
    assert "Removed what was made" in out.stderr
    assert leftovers(env.name, env.state_dir) == []

    # --retain keeps it all for inspection (and says how to remove it); `down` then removes it.
    kept = env.run("up", "--server-binary", str(fake), "--retain", check=False)
    assert kept.returncode == 1 and f"multidc down --name {env.name}" in kept.stderr, kept.stderr
    left = leftovers(env.name, env.state_dir)
    assert f"directory {env.state_dir / env.name}" in left and any(i.startswith("namespace") for i in left), left
    assert (env.state_dir / env.name / "kms" / "server.log").read_text().count("simulated failure") == 1
    env.run("down")
    assert leftovers(env.name, env.state_dir) == []


def test_the_python_api_removes_the_environment_when_the_block_raises(live, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import multidc

    env: Live = live()
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(env.state_dir))
    with pytest.raises(RuntimeError, match="the user's test failed"), multidc.up(name=env.name) as made:
        assert made.status().healthy
        raise RuntimeError("the user's test failed")
    assert leftovers(env.name, env.state_dir) == []


@pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2's ip is not installed")
def test_host_routing_table_untouched(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    before = host_network(env.name)
    assert env.json("up")["healthy"] is True
    assert host_network(env.name) == before


def _up_read_one_line(env: Live, *args: str) -> tuple[str, int]:
    """`multidc up 2>&1 | head -1`: the reader takes the first line and leaves; the exit code of `up`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "multidc", "up", "--name", env.name, *args],
        env=env.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        proc.stdout.close()
        return first, proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_up_whose_reader_leaves_after_one_line_still_comes_up(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    first, code = _up_read_one_line(env)
    assert first.strip() and code == 0, (first, code)
    assert env.run("status").returncode == 0
    listed = {e["name"]: e["health"] for e in json.loads(env.run("list", "--output", "json").stdout)}
    assert listed[env.name] == "healthy", listed
    env.run("down")
    assert leftovers(env.name, env.state_dir) == []


def test_failed_up_whose_reader_left_still_cleans_up(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    fake = failing_server(tmp_path, "sleep 1; ")  # fails once the reader has gone
    first, code = _up_read_one_line(env, "--server-binary", str(fake))
    assert first.strip() and code == 1, (first, code)
    assert leftovers(env.name, env.state_dir) == []
