"""Read-your-writes across datacenters with `env.client` alone (X-Vault-Index), on the default topology."""

from __future__ import annotations

import hvac
import pytest

import multidc

from .conftest import Live

CONFIGURED = """
configuration:
  secrets:
    - {path: app, type: kv, options: {version: 2}}
  startupSecrets:
    - {type: kv, path: app/data/greeting, data: {data: {hello: world}}}
"""


def read(c: hvac.Client, mount: str, path: str) -> object:
    return c.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, raise_on_deleted_version=True)["data"][
        "data"
    ]


def test_read_after_write_through_every_dc_and_a_fresh_kv_v2_mount(
    live, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    topology = tmp_path / "t.yaml"
    topology.write_text(CONFIGURED)
    env.run("up", "-f", str(topology))
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(env.state_dir))

    # What `configuration` made is readable through every DC once `up` returns, even without the index.
    raw = multidc.attach(env.name, consistency="eventual")
    for dc in raw.datacenters:
        assert read(raw.client(dc), "app", "greeting") == {"hello": "world"}, dc

    e = multidc.attach(env.name)  # consistency="index", the default
    for round_ in range(5):
        mount = f"fresh{round_}"  # a new kv-v2 mount each round: standbys answer 400 while it upgrades
        e.client("primary").sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
        for writer in e.datacenters:
            value = {"by": writer, "round": round_}
            e.client(writer).secrets.kv.v2.create_or_update_secret(path="k", secret=value, mount_point=mount)
            for reader in e.datacenters:
                assert read(e.client(reader), mount, "k") == value, (round_, writer, reader)

    # The raw standby behaviour is still there for tests that want it: reads right after a write can be stale.
    stale = 0
    for i in range(20):
        raw.client("primary").secrets.kv.v2.create_or_update_secret(path="raw", secret={"i": i}, mount_point="app")
        try:
            stale += read(raw.client("tertiary"), "app", "raw") != {"i": i}
        except hvac.exceptions.InvalidPath:
            stale += 1
    assert stale > 0, "20 reads through a standby right after each write were all fresh without the index"
