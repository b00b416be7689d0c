"""Raft snapshots of a netns environment, through the leader, and what must be kept beside one.

A snapshot holds the cluster's data encrypted under its barrier keyring, whose root key is wrapped by the seal (the
KMS's transit key, or the Shamir unseal keys in kv mode). So `save` writes two files: FILE (the snapshot) and
FILE.keys (0600, as secret as the state directory's secrets): the transit key's backup (or the unseal keys), the
recovery keys and the root token. `restore` into the same environment sends the snapshot back; into another (a fresh
one after `down`), it first puts the old key into this KMS, then force-restores, and adopts the old root token and
keys, so every DC unseals the restored data by itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import bootstrap
from ...errors import ProviderError, TopologyError
from ...state import read_secret, write_secret
from ...vaultapi import get, raw

if TYPE_CHECKING:
    from .provider import NetnsEnvironment

KEYS_SUFFIX = ".keys"
RESTORE_TIMEOUT = 60.0


@dataclass
class SnapshotInfo:
    path: str
    keys: str
    bytes: int
    sha256: str
    seconds: float
    leader: str
    applied_index: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def keys_path(path: Path) -> Path:
    return path.with_name(path.name + KEYS_SUFFIX)


def _write_new(path: Path, data: bytes) -> None:
    """Write a 0600 file through a temporary name in its directory, then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise TopologyError(f"{path}: is a directory; give a file name for the snapshot")
    if not path.parent.is_dir():
        raise TopologyError(f"{path}: no directory {path.parent}; create it first")


def save(env: NetnsEnvironment, path: Path) -> SnapshotInfo:
    """Take a Raft snapshot through the leader into `path`, and the keys it needs into `path`.keys."""
    _check_target(path)
    started = time.monotonic()
    leader = env.leader_node()
    c = env.client(leader, env.root_token(), timeout=60)
    code, status = get(c, "/v1/sys/leader")
    response = raw(c, "GET", "/v1/sys/storage/raft/snapshot")
    data = response.content
    if response.status_code != 200 or not data:
        raise ProviderError(f"snapshot through {leader.name} failed: HTTP {response.status_code}")
    keys: dict[str, Any] = {
        "environment": env.name,
        "unseal": env.plan.topology.unseal,
        "root_token": env.root_token(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "taken_at": time.time(),
    }
    if env.plan.topology.unseal == "transit":
        kms = env.client(env.plan.kms, read_secret(env.paths, "kms-root-token"))
        code, backup = get(kms, f"/v1/transit/backup/{env.plan.transit_key}")
        if code != 200:
            raise ProviderError(
                f"the KMS would not back up the transit key {env.plan.transit_key} (HTTP {code}: "
                f"{'; '.join(backup.get('errors') or [])}); an environment made before snapshots were supported "
                "cannot move its snapshot elsewhere"
            )
        keys["transit_key_backup"] = backup["data"]["backup"]
        keys["recovery_keys"] = (read_secret(env.paths, "recovery-keys") or "").split()
    else:
        keys["unseal_keys"] = (read_secret(env.paths, "unseal-keys") or "").split()
    _write_new(path, data)
    _write_new(keys_path(path), (json.dumps(keys, indent=2) + "\n").encode())
    return SnapshotInfo(
        str(path),
        str(keys_path(path)),
        len(data),
        keys["sha256"],
        round(time.monotonic() - started, 3),
        leader.name,
        int(status.get("raft_applied_index") or 0) if code == 200 else 0,
    )


def _load(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read the snapshot: {exc.strerror}") from None
    kp = keys_path(path)
    try:
        keys = json.loads(kp.read_text())
        assert isinstance(keys, dict) and "root_token" in keys
    except (OSError, ValueError, AssertionError):
        raise TopologyError(
            f"{kp}: missing or not what `multidc snapshot save` wrote; a snapshot needs its keys file beside it"
        ) from None
    if hashlib.sha256(data).hexdigest() != keys.get("sha256"):
        raise TopologyError(f"{path}: does not match {kp} (another snapshot's keys, or a damaged file)")
    return data, keys


def restore(env: NetnsEnvironment, path: Path) -> str:
    """Restore the snapshot through the leader and wait until every DC serves it, unsealed and healthy."""
    data, keys = _load(path)
    if keys.get("unseal") != env.plan.topology.unseal:
        raise TopologyError(
            f"{path}: taken with unseal {keys.get('unseal')}, this environment uses {env.plan.topology.unseal}; "
            "restore it into an environment of the same unseal mode"
        )
    same = keys.get("root_token") == env.root_token()
    leader = env.leader_node()
    if not same:
        _adopt_seal(env, keys)
    c = env.client(leader, env.root_token(), timeout=120)
    endpoint = "/v1/sys/storage/raft/snapshot" + ("" if same else "-force")
    response = raw(c, "POST", endpoint, data=data)
    if response.status_code not in (200, 204):
        raise ProviderError(f"restore through {leader.name} failed: HTTP {response.status_code} {response.text[:200]}")
    if not same:  # the restored data knows the old root token and keys only
        write_secret(env.paths, "root-token", keys["root_token"])
        if env.plan.topology.unseal == "transit":
            write_secret(env.paths, "recovery-keys", "\n".join(keys["recovery_keys"]))
        else:
            write_secret(env.paths, "unseal-keys", "\n".join(keys["unseal_keys"]))
        env.wait_healthy(RESTORE_TIMEOUT)  # every DC has the restored data (a restart before would lose it)
        _restart_all(env)
    env.wait_healthy(RESTORE_TIMEOUT)
    return f"restored {path} through {leader.name}" + ("" if same else f" (taken in {keys.get('environment')!r})")


def _adopt_seal(env: NetnsEnvironment, keys: dict[str, Any]) -> None:
    """Make this environment's seal able to open the snapshot's data: the old transit key under this environment's
    key name (transit), or the old unseal keys where this KMS's unsealers read them (kv)."""
    kms = env.client(env.plan.kms, read_secret(env.paths, "kms-root-token"), timeout=10)
    if env.plan.topology.unseal == "transit":
        name = env.plan.transit_key
        response = raw(
            kms, "POST", f"/v1/transit/restore/{name}", json={"backup": keys["transit_key_backup"], "force": True}
        )
        if response.status_code not in (200, 204):
            raise ProviderError(f"the KMS would not take the snapshot's transit key: HTTP {response.status_code}")
        # An in-memory KMS that restarts is given this key again (not the one this environment was made with)
        write_secret(env.paths, "transit-key-backup", keys["transit_key_backup"])
    else:
        result = bootstrap.InitResult(keys=list(keys["unseal_keys"]), root_token=keys["root_token"])
        bootstrap.store_unseal_keys(kms, result)


def _restart_all(env: NetnsEnvironment) -> None:
    """Restart every DC's server at once. Measured on OpenBao 2.7.2: after a force restore of another cluster's
    snapshot the running servers keep the cluster-port TLS keys they had, while a server started later loads the
    snapshot's: it is then refused by its peers ("tls: unrecognized name") and never catches up. Restarted together,
    they all load the restored keys (and unseal by themselves: transit, or kv through their unsealers)."""
    assert env.state is not None
    marker = str(env.paths.root)
    pids = [env.state.pids.get(f"node:{n.name}") for n in env.plan.nodes]
    env.host.terminate([p for p in pids if p is not None and env.host.belongs(p, marker)], grace=15.0)
    for node in env.plan.nodes:
        env.restart_node(node)
    for node in env.plan.nodes:
        env._started(node, f"node:{node.name}")
