"""A multi-datacenter OpenBao cluster in your tests: copy this file, run `pytest` as root.

The `multidc_env` fixture comes with `pip install multidc` (a pytest plugin): three DCs in network namespaces, Raft
across them, TLS, auto-unseal through a central KMS; created once per session and removed at the end.
"""

import time

import pytest


def test_a_secret_written_in_one_dc_is_read_in_every_other(multidc_env):
    assert multidc_env.datacenters == ["primary", "secondary", "tertiary"]
    multidc_env.client("primary").secrets.kv.v2.create_or_update_secret(path="greeting", secret={"hello": "world"})
    for dc in ("secondary", "tertiary"):  # at once: the clients carry the write's index (read-your-writes)
        read = multidc_env.client(dc).secrets.kv.v2.read_secret_version(path="greeting", raise_on_deleted_version=True)
        assert read["data"]["data"] == {"hello": "world"}


def test_the_cluster_survives_losing_its_leader(multidc_env):
    leader = multidc_env.leader()
    multidc_env.kill(leader)
    survivor = next(dc for dc in multidc_env.datacenters if dc != leader)
    deadline = time.monotonic() + 15
    while True:  # a new leader is elected in a second or two
        try:
            multidc_env.client(survivor, timeout=2).secrets.kv.v2.create_or_update_secret(
                path="after-failover", secret={"ok": True}
            )
            break
        except Exception:  # refused, timed out, or no leader yet
            if time.monotonic() > deadline:
                pytest.fail(f"no write succeeded through {survivor} within 15 s of killing {leader}")
            time.sleep(0.2)
    multidc_env.start(leader)  # it rejoins and unseals by itself
    status = multidc_env.wait_healthy()
    assert status.healthy and all(node.voter for node in status.nodes)
