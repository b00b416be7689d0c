"""`dc add` / `dc remove` on running environments of real OpenBao servers in real namespaces: grown 3 -> 5 and shrunk
back while a writer keeps writing, every acknowledged write read back through every DC; kv mode's unsealers follow."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

import multidc
from multidc.providers.netns.host import LINUX

from .conftest import Live, wait_for
from .test_environment import bao

pytestmark = pytest.mark.integration

ORIGINAL = ["primary", "secondary", "tertiary"]


class Writer(threading.Thread):
    """Writes distinct keys w/<n> (value n) through the original DCs in turn, plain HTTP, until stopped; a write is
    acknowledged only by 200/204 (a 307 to the leader's VIP, an error or a cut connection is not)."""

    def __init__(self, addresses: dict[str, str], token: str, ca: str) -> None:
        super().__init__(daemon=True)
        self.addresses, self.token, self.ca = addresses, token, ca
        self.acknowledged: list[int] = []
        self.failed = 0
        self.done = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        n = 0
        while not self.done.is_set():
            n += 1
            url = self.addresses[ORIGINAL[n % len(ORIGINAL)]]
            try:
                answer = session.post(
                    f"{url}/v1/secret/data/w/{n}",
                    json={"data": {"n": n}},
                    headers={"X-Vault-Token": self.token},
                    verify=self.ca,
                    timeout=5,
                    allow_redirects=False,
                )
                if answer.status_code in (200, 204):
                    self.acknowledged.append(n)
                else:
                    self.failed += 1
            except requests.RequestException:
                self.failed += 1
            time.sleep(0.03)

    def stop(self) -> None:
        self.done.set()
        self.join(30)


def read_back(address: str, token: str, ca: str, keys: list[int]) -> list[int]:
    """The keys that do not read back with their own value through this DC (none, when nothing was lost)."""
    session = requests.Session()

    def missing(n: int) -> int | None:
        got = session.get(f"{address}/v1/secret/data/w/{n}", headers={"X-Vault-Token": token}, verify=ca, timeout=10)
        ok = got.status_code == 200 and got.json()["data"]["data"] == {"n": n}
        return None if ok else n

    with ThreadPoolExecutor(8) as pool:
        return [n for n in pool.map(missing, keys) if n is not None]


def places(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {n["dc"]: (n["vip"], n["host_url"]) for n in status["nodes"]}


def namespace_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def test_grow_3_to_5_and_shrink_back_keeps_every_acknowledged_write(live, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    assert env.json("up")["healthy"] is True
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(env.state_dir))
    api = multidc.attach(env.name)
    before = places(env.json("status"))
    token, ca = api.root_token, str(api.ca_cert)
    writer = Writer({dc: api.address(dc) for dc in ORIGINAL}, token, ca)
    writer.start()
    try:
        wait_for(lambda: len(writer.acknowledged) >= 10, 30, "the writer's first writes")

        # Grow: one DC from the CLI, one from the Python API.
        plan = api.running.plan  # type: ignore[attr-defined]
        bridge_mac = LINUX.mac(plan.site_namespace, plan.bridge)
        added = env.json("dc", "add", "quaternary", "--name", env.name)
        assert added["slot"] == 4 and added["vip"] == "172.18.4.128", added
        report = api.add_dc("quinary")
        assert report.slot == 5 and report.vip == "172.18.5.128"
        assert api.datacenters == [*ORIGINAL, "quaternary", "quinary"]
        status = env.json("status")
        assert status["healthy"] is True, status
        assert {n["dc"]: n["voter"] for n in status["nodes"]} == dict.fromkeys(
            [*ORIGINAL, "quaternary", "quinary"], True
        )
        assert {dc: p for dc, p in places(status).items() if dc in ORIGINAL} == before  # nothing existing moved
        # A bridge takes its lowest port's MAC unless it has its own: each DC added would change it, and every
        # namespace's ARP entry for the gateway (the forwarder's address) would point at the old one for seconds.
        assert LINUX.mac(plan.site_namespace, plan.bridge) == bridge_mac
        # every other node's retry_join now lists the new DCs (read at its next start)
        config = json.loads((env.state_dir / env.name / "nodes" / "primary" / "config.json").read_text())
        joins = {j["leader_api_addr"] for j in config["storage"]["raft"]["retry_join"]}
        assert joins == {f"https://172.18.{i}.128:8200" for i in (2, 3, 4, 5)}
        # a new DC is a DC like the others: `multidc env`, the user's own CLI, what was written before it came
        exports = env.exports("quinary")
        assert exports["BAO_ADDR"] == api.address("quinary")
        assert bao(exports, "kv", "put", "secret/through-quinary", "v=5").returncode == 0
        early = list(writer.acknowledged)
        api.wait_healthy()  # its probe write, read back through every DC, comes after every write in `early`
        for dc in ("quaternary", "quinary"):
            assert read_back(api.address(dc), token, ca, early) == [], f"{dc} lacks writes made before it joined"
        assert "already up and healthy" in env.run("up").stdout  # `up` plans the grown environment as it is

        # Shrink back: one from the Python API, one from the CLI.
        api.remove_dc("quaternary")
        removed = env.json("dc", "remove", "quinary", "--name", env.name)
        assert removed["datacenters"] == ORIGINAL, removed
        wait_for(lambda: len(writer.acknowledged) >= len(early) + 10, 30, "writes after the shrink")
    finally:
        writer.stop()

    status = env.json("status")
    assert status["healthy"] is True and places(status) == before, status
    for dc in ("quaternary", "quinary"):
        assert not namespace_exists(f"mdc.{env.name}.dc.{dc}")
        assert not (env.state_dir / env.name / "nodes" / dc).exists()
    state = env.state()
    assert [d["name"] for d in state["topology"]["datacenters"]] == ORIGINAL
    assert state["slots"] == {"primary": 1, "secondary": 2, "tertiary": 3}
    assert not any(k.endswith(("quaternary", "quinary")) for k in state["pids"])
    assert "already up and healthy" in env.run("up").stdout

    # Every acknowledged write, through every DC: none lost.
    keys = sorted(writer.acknowledged)
    print(f"{len(keys)} writes acknowledged, {writer.failed} not (cut or refused while the forwarder restarted)")
    assert len(keys) >= 30, (len(keys), writer.failed)
    api = multidc.attach(env.name)  # the CLI removed quinary since `api` last looked
    assert api.datacenters == ORIGINAL
    api.wait_healthy()  # its probe write, read back through every DC, comes after every acknowledged write
    for dc in ORIGINAL:
        assert read_back(api.address(dc), token, ca, keys) == [], f"acknowledged writes lost through {dc}"


def test_kv_mode_unsealers_follow_and_a_leader_is_removed_after_stepping_down(live, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topo = env.state_dir.parent / "kv.yaml"
    topo.write_text("unseal: kv\n")
    assert env.json("up", "-f", str(topo))["healthy"] is True
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(env.state_dir))
    api = multidc.attach(env.name)
    root = env.state_dir / env.name

    added = env.json("dc", "add", "east", "--pool", "172.18.40.0/24", "--name", env.name)
    assert added["vip"] == "172.18.40.0" and added["slot"] == 4, added
    spec = json.loads((root / "secrets" / "unsealers.json").read_text())  # one process, a thread per DC
    assert "east" in [dc["name"] for dc in spec["datacenters"]] and "unsealers" in env.state()["pids"]
    assert "unsealed with the keys from the KMS" in (root / "nodes" / "east" / "unsealer.log").read_text()
    assert {n["dc"]: n["voter"] for n in env.json("status")["nodes"]}["east"] is True

    # The unsealer keeps doing its job for the new DC: killed, it comes back unsealed by it.
    env.run("chaos", "kill", "east")
    env.run("chaos", "start", "east")
    wait_for(lambda: env.run("status", check=False).returncode == 0, 60, "healthy after east restarted")

    leader = api.leader()
    assert leader is not None
    unsealer = env.state()["pids"]["unsealers"]
    namespace = f"mdc.{env.name}.dc.{leader}"
    link = f"{env.name}-dc{env.state()['slots'][leader]}"
    mac = ip(namespace, "link", "show", link)[0]["address"]
    addresses = {a["local"] for a in ip(namespace, "addr", "show", link)[0]["addr_info"]}
    report = api.remove_dc(leader)
    assert report.leader != leader and leader not in report.datacenters
    assert not namespace_exists(namespace)
    # the unsealers' process was started again without the removed DC's thread
    assert not Path(f"/proc/{unsealer}").exists() or "Z" in Path(f"/proc/{unsealer}/stat").read_text()
    spec = json.loads((root / "secrets" / "unsealers.json").read_text())
    assert leader not in [dc["name"] for dc in spec["datacenters"]] and env.state()["pids"]["unsealers"] != unsealer
    assert env.run("status").returncode == 0
    # No namespace left still sends the removed node's addresses to its MAC (the next DC in this slot gets them).
    others = [f"mdc.{env.name}.{n}" for n in ("site", "kms", *(f"dc.{dc}" for dc in report.datacenters))]
    stale = [
        (ns, e["dst"]) for ns in others for e in ip(ns, "neigh") if e["dst"] in addresses and e.get("lladdr") == mac
    ]
    assert stale == []

    # Its slot is taken again by the next DC, with the same addresses.
    again = api.add_dc("west")
    assert again.vip == f"172.18.{ORIGINAL.index(leader) + 1}.128" and again.slot == ORIGINAL.index(leader) + 1
    assert env.run("status").returncode == 0


def ip(namespace: str, *args: str) -> list[dict[str, Any]]:
    out = subprocess.run(["ip", "-j", "-n", namespace, *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out or "[]")  # type: ignore[no-any-return]
