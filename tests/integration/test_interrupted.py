"""Commands SIGKILLed midway (a crash, `kill -9`, a CI timeout) leave nothing multidc cannot finish: a `dc add` or
`dc remove` killed at each point is finished by `up` or by `dc remove`, and a KMS left running but not ready by a
killed `chaos kms-up` is reported by `status` and completed by `chaos kms-up`, `chaos clear` and `up`. Real
namespaces, real OpenBao; each kill waits for a condition, never for a fixed time."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import Live, leftovers, wait_for

pytestmark = pytest.mark.integration

ORIGINAL = ["primary", "secondary", "tertiary"]
KILL_WITHIN = 120.0


def killed_when(env: Live, condition: Callable[[], object], what: str, *args: str) -> None:
    """Run `multidc ARGS --name ENV` and SIGKILL it (that process alone, as `kill -9` does) as soon as condition
    holds; fail if the command ends first."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "multidc", *args, "--name", env.name],
        env=env.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + KILL_WITHIN
        while not condition():
            if proc.poll() is not None:
                raise AssertionError(f"{' '.join(args)} ended (exit {proc.returncode}) before {what}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not within {KILL_WITHIN:.0f}s")
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -9, f"{' '.join(args)} ended by itself (exit {proc.returncode}) before the kill"


def state(env: Live) -> dict[str, Any]:
    """The state file, or {} at the instant a command rewrites it."""
    try:
        return env.state()
    except (OSError, ValueError):
        return {}


def server_running(env: Live, dc: str) -> bool:
    """A server process for the DC (its command line names its config), recorded or not."""
    config = f"-config={env.state_dir / env.name / 'nodes' / dc / 'config.json'}"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if config in (proc / "cmdline").read_bytes().decode(errors="replace").split("\0"):
                return True
        except OSError:
            continue
    return False


def api(
    env: Live, port: int, path: str, token: str | None = None, method: str = "GET", **body: Any
) -> requests.Response:
    ca = str(env.state_dir / env.name / "ca.crt")
    headers = {"X-Vault-Token": token} if token else {}
    return requests.request(
        method, f"https://127.0.0.1:{port}{path}", headers=headers, json=body or None, verify=ca, timeout=5
    )


def raft_members(env: Live) -> set[str] | None:
    """The Raft configuration's members, through the first DC; None when it does not answer."""
    st = state(env)
    token = (env.state_dir / env.name / "secrets" / "root-token").read_text().strip()
    try:
        got = api(env, st["port_base"] + 1, "/v1/sys/storage/raft/configuration", token)
        return {s["node_id"] for s in got.json()["data"]["config"]["servers"]} if got.status_code == 200 else None
    except (requests.RequestException, KeyError, ValueError):
        return None


def member(env: Live, dc: str) -> bool | None:
    """Whether the DC is in the Raft configuration; None when nobody said."""
    members = raft_members(env)
    return None if members is None else dc in members


def sealed(env: Live, port: int) -> bool | None:
    try:
        got = api(env, port, "/v1/sys/seal-status")
        return bool(got.json().get("sealed")) if got.status_code == 200 else None
    except (requests.RequestException, ValueError):
        return None


def unhealthy(env: Live, says: str) -> None:
    """`status` exits 1 and names the problem."""
    status = env.run("status", check=False)
    assert status.returncode == 1 and says in status.stdout, status.stdout + status.stderr


def gone(env: Live, dc: str) -> None:
    """Nothing of the DC is left: not in the record, not in Raft, no namespace, directory or process."""
    st = env.state()
    assert [d["name"] for d in st["topology"]["datacenters"]] == ORIGINAL and "membership" not in st["made"], st
    wait_for(lambda: member(env, dc) is not None, 30, "the Raft configuration")
    assert member(env, dc) is False
    assert not Path(f"/run/netns/mdc.{env.name}.dc.{dc}").exists()
    assert not (env.state_dir / env.name / "nodes" / dc).exists()
    assert not server_running(env, dc)


# --- finding 5: `dc add` / `dc remove` killed midway


def test_a_killed_dc_add_is_taken_back_by_dc_remove_or_finished_by_up(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    namespace = Path(f"/run/netns/mdc.{env.name}.dc.east")

    # Killed once east's namespace exists: `status` names the unfinished add, another change waits for it, and
    # `dc remove east` takes it back.
    killed_when(env, namespace.exists, "east's namespace", "dc", "add", "east")
    unhealthy(env, "`dc add east` did not finish")
    refused = env.run("dc", "add", "west", "--name", env.name, check=False)
    assert refused.returncode == 2 and "`dc add east` did not finish" in refused.stderr, refused.stderr
    assert env.json("dc", "remove", "east", "--name", env.name)["datacenters"] == ORIGINAL
    gone(env, "east")
    assert env.json("status")["healthy"] is True

    # Killed once east's server runs: `up` takes back what was made and makes east again.
    killed_when(env, lambda: server_running(env, "east"), "east's server", "dc", "add", "east")
    unhealthy(env, "`dc add east` did not finish")
    up = env.run("up")
    assert "Completed the interrupted `dc add east`" in up.stderr, up.stderr
    status = env.json("status")
    assert status["healthy"] is True and {n["dc"]: n["voter"] for n in status["nodes"]}["east"] is True, status
    assert "membership" not in env.state()["made"]
    env.run("dc", "remove", "east", "--name", env.name)
    gone(env, "east")

    # Killed once east is in the Raft configuration (joined, still sealed): `dc add east` again is refused with what
    # to run (it said its port was "used by another process", our own forwarder), `up` finishes it.
    port = env.state()["port_base"] + 4
    killed_when(
        env, lambda: member(env, "east") and sealed(env, port), "east a sealed Raft member", "dc", "add", "east"
    )
    unhealthy(env, "`dc add east` did not finish")
    again = env.run("dc", "add", "east", "--name", env.name, check=False)
    assert again.returncode == 2 and "`multidc up --name" in again.stderr, again.stderr
    assert "Completed the interrupted `dc add east`" in env.run("up").stderr
    assert env.json("status")["healthy"] is True

    # A `dc remove` killed once east has left Raft: `up` finishes it.
    killed_when(env, lambda: member(env, "east") is False, "east out of Raft", "dc", "remove", "east")
    unhealthy(env, "`dc remove east` did not finish")
    assert "Finished the interrupted `dc remove east`" in env.run("up").stderr
    gone(env, "east")
    assert env.json("status")["healthy"] is True

    # And `down` removes an add killed midway with the rest.
    killed_when(env, lambda: server_running(env, "east"), "east's server", "dc", "add", "east")
    env.run("down")
    assert leftovers(env.name, env.state_dir) == []


# --- finding 6: a KMS left running but not ready


def kms_port(env: Live) -> int:
    return int(env.state()["port_base"])


def kms_token(env: Live) -> str:
    return (env.state_dir / env.name / "secrets" / "kms-root-token").read_text().strip()


def kill_kms_up_once_its_process_is_recorded(env: Live) -> None:
    """`chaos kms-down`, then a `chaos kms-up` killed right after it recorded the KMS's new process: the KMS then
    runs, not yet initialised (in memory) or sealed (on raft), as a `kms-up` killed 0.8 s in left it."""
    env.run("chaos", "kms-down")
    before = env.state()["pids"].get("kms")
    killed_when(
        env,
        lambda: state(env).get("pids", {}).get("kms") not in (None, before),
        "the KMS's new process",
        "chaos",
        "kms-up",
    )
    wait_for(lambda: sealed(env, kms_port(env)) is not None, 60, "the KMS to answer")


def restart_dc(env: Live, dc: str) -> None:
    """A DC restarted now unseals through the KMS (transit) or its unsealer (kv): the KMS is ready."""
    env.run("chaos", "kill", dc)
    started = env.run("chaos", "start", dc, check=False)
    assert started.returncode == 0, started.stderr
    wait_for(lambda: env.run("status", check=False).returncode == 0, 60, f"healthy after restarting {dc}")


def test_a_kms_left_unready_is_reported_and_completed_by_kms_up_clear_and_up(live) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    env.run("up")
    key = f"{env.name}-autounseal"

    # A killed `kms-up`: the in-memory KMS runs empty and sealed. `kms-up` again completes it (it said "already
    # running", exit 2), and a DC restarted afterwards unseals through it.
    kill_kms_up_once_its_process_is_recorded(env)
    seal = api(env, kms_port(env), "/v1/sys/seal-status").json()
    assert seal["initialized"] is False and seal["sealed"] is True, seal
    unhealthy(env, "kms: running, not initialised")
    assert env.json("status")["kms_sealed"] is True
    said = env.run("chaos", "kms-up").stdout
    assert "completed its preparation" in said, said
    restart_dc(env, "secondary")

    # Unsealed without the transit key (driven there through the KMS's own API): `chaos clear` restores it from the
    # backup multidc keeps.
    assert api(env, kms_port(env), f"/v1/transit/keys/{key}/config", kms_token(env), "POST", deletion_allowed=True).ok
    assert api(env, kms_port(env), f"/v1/transit/keys/{key}", kms_token(env), "DELETE").ok
    unhealthy(env, f"kms: no transit key {key}")
    assert env.run("chaos", "clear").stdout.strip() == "undid every fault"
    assert api(env, kms_port(env), f"/v1/transit/keys/{key}", kms_token(env)).status_code == 200
    restart_dc(env, "tertiary")

    # Sealed (through its API): `up` unseals it.
    assert api(env, kms_port(env), "/v1/sys/seal", kms_token(env), "PUT").ok
    unhealthy(env, "kms: sealed")
    up = env.json("up")
    assert up["healthy"] is True and "kms" in up["restarted"], up
    restart_dc(env, "secondary")

    # Sealed, and the key multidc holds does not open it (a `kms-up` killed between the init and writing the new
    # key leaves that): `kms-up` starts it again and prepares it anew; the same KMS token works, a DC unseals.
    exports = env.exports("kms")
    assert api(env, kms_port(env), "/v1/sys/seal", kms_token(env), "PUT").ok
    key_file = env.state_dir / env.name / "secrets" / "kms-unseal-key"
    key_file.write_text(base64.b64encode(bytes(32)).decode() + "\n")
    unhealthy(env, "kms: sealed")
    assert "completed its preparation" in env.run("chaos", "kms-up").stdout
    assert env.exports("kms") == exports and key_file.read_text() != base64.b64encode(bytes(32)).decode() + "\n"
    restart_dc(env, "tertiary")

    # Ready: `kms-up` refuses as before.
    refused = env.run("chaos", "kms-up", check=False)
    assert refused.returncode == 2 and "already running" in refused.stderr, refused.stderr


def test_a_raft_kms_in_kv_mode_left_unready_is_completed(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = tmp_path / "kv-raft.yaml"
    topo.write_text("unseal: kv\nkms: {storage: raft}\n")
    env.run("up", "-f", str(topo))

    # A killed `kms-up` of a KMS on raft leaves it sealed; `kms-up` unseals it with its key.
    kill_kms_up_once_its_process_is_recorded(env)
    wait_for(lambda: sealed(env, kms_port(env)) is True, 60, "the KMS sealed")
    unhealthy(env, "kms: sealed")
    assert "completed its preparation" in env.run("chaos", "kms-up").stdout
    restart_dc(env, "tertiary")

    # The unseal keys gone from the KMS: the unsealers could not unseal a restarted DC; `up` puts them back.
    assert api(env, kms_port(env), "/v1/secret/metadata/vault-unseal-keys", kms_token(env), "DELETE").ok
    unhealthy(env, "kms: the unsealers cannot read the unseal keys")
    assert "kms" in env.json("up")["restarted"]
    restart_dc(env, "secondary")
