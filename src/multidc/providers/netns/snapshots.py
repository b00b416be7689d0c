"""Raft snapshots of a netns environment, through the leader, and what must be kept beside one.

A snapshot holds the cluster's data encrypted under its barrier keyring, whose root key is wrapped by the seal (the
KMS's transit key, or the Shamir unseal keys in kv mode). So `save` writes two files: FILE (the snapshot) and
FILE.keys (0600, as secret as the state directory's secrets): the transit key's backup (or the unseal keys), the
recovery keys and the root token. Both must be new files, or with force regular files of the user's: `save` never
writes through a symlink or over a device, a directory or anything else, and checks both before it takes anything.

`restore` changes nothing until the snapshot and FILE.keys are proven: the archive's digests first; then, for
another environment's snapshot (or keys whose root token is not this environment's), a rehearsal on a scratch server
(rehearsal.py). Into the same environment it sends the snapshot back; into another it puts the old key into this KMS,
sends the snapshot, and puts this environment's key back if OpenBao refuses it. Once the data is in place (OpenBao
applies it in the background: a token made just before disappears), it adopts the old root token and keys, so every
DC unseals the restored data by itself.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import bootstrap, interrupts, pipeline
from ...errors import MultidcError, ProviderError, TopologyError
from ...state import read_secret, write_secret
from ...vaultapi import get, raw
from ..results import SnapshotInfo
from .rehearsal import rehearse
from .transfer import RESTORE_TIMEOUT, Refused, keys_path, lookup, said, send

if TYPE_CHECKING:
    import hvac

    from .environment import Environment
    from .plan import Node


# --- save: only a new file, or (force) a regular file of the user's; never a device, a symlink or a directory

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


def check_target(path: Path, force: bool) -> os.stat_result | None:
    """What `path` is now: None when nothing is there (a new file), or the regular file `force` may replace. Anything
    else is refused (TopologyError), so nothing is taken or written."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise TopologyError(f"{path}: no directory {path.parent}; create it first") from None
        return None
    except OSError as exc:
        raise TopologyError(f"{path}: {exc.strerror}; give another path") from None
    if not stat.S_ISREG(st.st_mode):
        kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
        raise TopologyError(
            f"{path}: is {kind}; snapshot save writes only a new file (or a regular file, with --force)"
        )
    if not force:
        raise TopologyError(f"{path}: already exists; give a new path, or --force to replace it")
    if st.st_uid != os.geteuid() or st.st_nlink != 1:  # secrets must not land in another user's file, or another name
        raise TopologyError(
            f"{path}: owned by uid {st.st_uid} or linked under another name; remove it or give a new path"
        )
    return st


def write_file(path: Path, data: bytes, existing: os.stat_result | None) -> None:
    """Write `data` (0600) to `path` as check_target found it, never to anything that took its place meanwhile: a new
    file is written aside and linked in (a link never replaces a name), an existing one is opened without following
    a symlink and written only if it is still the same regular file."""
    try:
        if existing is None:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600, a name nobody else holds
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.link(tmp, path)
            finally:
                os.unlink(tmp)
            return
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "wb") as handle:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (existing.st_dev, existing.st_ino) or not stat.S_ISREG(now.st_mode):
                raise FileExistsError(errno.EEXIST, "replaced")
            os.fchmod(fd, 0o600)
            handle.truncate(0)
            handle.write(data)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ELOOP):  # ELOOP: O_NOFOLLOW met a symlink
            raise TopologyError(
                f"{path}: appeared or changed while the snapshot was taken; nothing written there"
            ) from None
        raise TopologyError(f"{path}: cannot write it ({exc.strerror}); nothing written there") from None


def _take(env: Environment, leader: Node, token: str | None) -> bytes:
    response = raw(env.client(leader, token, timeout=60), "GET", "/v1/sys/storage/raft/snapshot")
    if response.status_code != 200 or not response.content:
        raise ProviderError(f"snapshot through {leader.name} failed: HTTP {response.status_code}")
    return bytes(response.content)


def _transit_backup(env: Environment) -> str:
    code, backup = get(_kms(env), f"/v1/transit/backup/{env.plan.transit_key}")
    if code != 200:
        raise ProviderError(
            f"the KMS would not back up the transit key {env.plan.transit_key} (HTTP {code}: "
            f"{'; '.join(backup.get('errors') or [])}); an environment made before snapshots were supported "
            "cannot save or restore snapshots"
        )
    return str(backup["data"]["backup"])


def _keys_file(env: Environment, data: bytes, transit_backup: str | None) -> bytes:
    """FILE.keys: what restoring `data` into a fresh environment needs, from this environment's secrets."""
    keys: dict[str, Any] = {
        "environment": env.name,
        "unseal": env.plan.topology.unseal,
        "root_token": env.root_token(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "taken_at": time.time(),
    }
    if transit_backup is not None:
        keys["transit_key_backup"] = transit_backup
        keys["recovery_keys"] = (read_secret(env.paths, "recovery-keys") or "").split()
    else:
        keys["unseal_keys"] = (read_secret(env.paths, "unseal-keys") or "").split()
    return (json.dumps(keys, indent=2) + "\n").encode()


def save(env: Environment, path: Path, force: bool = False) -> SnapshotInfo:
    """Take a Raft snapshot through the leader into `path`, and the keys it needs into `path`.keys."""
    targets = {p: check_target(p, force) for p in (path, keys_path(path))}  # both, before anything is taken
    started = time.monotonic()
    leader = env.leader_node()
    code, status = get(env.client(leader, env.root_token()), "/v1/sys/leader")
    data = _take(env, leader, env.root_token())
    keys = _keys_file(env, data, _transit_backup(env) if env.plan.topology.unseal == "transit" else None)
    write_file(path, data, targets[path])
    try:
        write_file(keys_path(path), keys, targets[keys_path(path)])
    except BaseException:
        if targets[path] is None:  # a snapshot without its keys is of no use: the new file goes again
            path.unlink(missing_ok=True)
        raise
    return SnapshotInfo(
        str(path),
        str(keys_path(path)),
        len(data),
        hashlib.sha256(data).hexdigest(),
        round(time.monotonic() - started, 3),
        leader.name,
        int(status.get("raft_applied_index") or 0) if code == 200 else 0,
    )


# --- restore: proven before anything changes; the KMS's key put back on a refusal


def _load(path: Path) -> tuple[bytes, dict[str, Any]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read the snapshot: {exc.strerror}") from None
    kp = keys_path(path)
    try:
        keys = json.loads(kp.read_text())
        assert isinstance(keys, dict) and isinstance(keys.get("root_token"), str)
    except (OSError, ValueError, AssertionError):
        raise TopologyError(
            f"{kp}: missing or not what `multidc snapshot save` wrote; a snapshot needs its keys file beside it"
        ) from None
    if hashlib.sha256(data).hexdigest() != keys.get("sha256"):
        raise TopologyError(f"{path}: does not match {kp} (another snapshot's keys, or a damaged file)")
    check_archive(path, data)
    return data, keys


def check_archive(path: Path, data: bytes) -> None:
    """OpenBao's snapshot is a gzipped tar whose SHA256SUMS lists meta.json's and state.bin's digests: read it all
    and compare, so a truncated or damaged file is refused before anything changes."""
    digests: dict[str, str] = {}
    sums = b""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                if member.name == "SHA256SUMS":
                    sums = handle.read()
                    continue
                digest = hashlib.sha256()
                while chunk := handle.read(1 << 20):
                    digest.update(chunk)
                digests[member.name] = digest.hexdigest()
            while stream.read(1 << 20):  # on to the gzip trailer, where its length and CRC are checked
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise TopologyError(f"{path}: not a complete Raft snapshot ({exc}); nothing changed") from None
    listed = {
        name.strip(): digest
        for digest, _, name in (line.partition(" ") for line in sums.decode(errors="replace").splitlines())
    }
    if not {"meta.json", "state.bin"} <= listed.keys() or any(digests.get(n) != d for n, d in listed.items()):
        raise TopologyError(f"{path}: not a complete Raft snapshot (its SHA256SUMS does not match); nothing changed")


def _kms(env: Environment) -> hvac.Client:
    return env.client(env.plan.kms, read_secret(env.paths, "kms-root-token"), timeout=10)


def _seal_of(env: Environment) -> Any:
    """What this KMS gives the environment's seal now: the transit key's backup, or the unseal keys (kv)."""
    if env.plan.topology.unseal == "transit":
        return _transit_backup(env)
    return _kms(env).secrets.kv.v2.read_secret_version(
        path=bootstrap.UNSEAL_KEYS_PATH, mount_point="secret", raise_on_deleted_version=True
    )["data"]["data"]


def _snapshot_seal(env: Environment, keys: dict[str, Any]) -> Any:
    if env.plan.topology.unseal == "transit":
        return keys["transit_key_backup"]
    return {**{f"vault-unseal-{i}": k for i, k in enumerate(keys["unseal_keys"])}, "vault-root": keys["root_token"]}


def _set_seal(env: Environment, seal: Any) -> None:
    """Make this KMS give the seal `seal`: the transit key under this environment's key name (transit), or the unseal
    keys where this KMS's unsealers read them (kv)."""
    kms = _kms(env)
    if env.plan.topology.unseal == "transit":
        name = env.plan.transit_key
        response = raw(kms, "POST", f"/v1/transit/restore/{name}", json={"backup": seal, "force": True})
        if response.status_code not in (200, 204):
            raise ProviderError(f"the KMS would not take the transit key {name}: {said(response)}")
    else:
        kms.secrets.kv.v2.create_or_update_secret(path=bootstrap.UNSEAL_KEYS_PATH, secret=seal, mount_point="secret")


def _keep(env: Environment, data: bytes, seal: Any) -> Path:
    """Write this environment's data from before the restore (and its keys) into its secrets: nothing is lost."""
    kept = env.paths.secret("before-restore.snap")
    found = {p: check_target(p, True) for p in (kept, keys_path(kept))}
    write_file(kept, data, found[kept])
    backup = (seal if seal is not None else _transit_backup(env)) if env.plan.topology.unseal == "transit" else None
    write_file(keys_path(kept), _keys_file(env, data, backup), found[keys_path(kept)])
    return kept


def restore(env: Environment, path: Path) -> str:
    """Restore the snapshot through the leader and wait until every DC serves it, unsealed and healthy. Nothing of
    this environment changes before the snapshot and FILE.keys are proven; a refusal puts the KMS's key back."""
    data, keys = _load(path)
    mode = env.plan.topology.unseal
    if keys.get("unseal") != mode:
        raise TopologyError(
            f"{path}: taken with unseal {keys.get('unseal')}, this environment uses {mode}; "
            "restore it into an environment of the same unseal mode"
        )
    token = env.root_token() or ""
    same = keys["root_token"] == token
    leader = env.leader_node()
    if not same:
        rehearse(env, path, data, keys, env.plan.binary_of(leader).path)
    url = env.plan.host_url(leader)
    before, seal = _take(env, leader, token), (None if same else _seal_of(env))
    with interrupts.deferred():  # a Ctrl-C waits until the restore is done or undone
        try:
            if not same:
                _set_seal(env, _snapshot_seal(env, keys))
            # Transit: the plain endpoint, so OpenBao checks again that the key just put in the KMS opens the snapshot
            # (its sealed digests); a Shamir seal cannot take another cluster's keys ahead, so kv forces.
            marker = send(url, env.ca, token, data, force=not same and mode == "kv")
        except BaseException as exc:
            if seal is not None:
                with contextlib.suppress(*pipeline.TRANSIENT, MultidcError):
                    _set_seal(env, seal)
            if isinstance(exc, Refused):
                raise ProviderError(f"restore through {leader.name} refused ({exc}); nothing changed") from None
            raise
        try:
            pipeline.wait_until(
                lambda: lookup(url, env.ca, marker) == "unknown",
                RESTORE_TIMEOUT,
                "the restored data in place",
                interval=0.2,
            )
            known = pipeline.wait_until(
                lambda: lookup(url, env.ca, keys["root_token"]), RESTORE_TIMEOUT, "a token lookup"
            )
        except TimeoutError as exc:
            kept = _keep(env, before, seal)
            raise ProviderError(
                f"{leader.name} accepted {path} but did not serve it in time ({exc}); this environment's secrets are "
                f"unchanged and its data from before is in {kept} (with its .keys)"
            ) from None
        if known != "root":
            kept = _keep(env, before, seal)
            raise ProviderError(
                f"{path}'s data is in place but {keys_path(path)}'s root token is not its root token; this "
                f"environment's secrets are unchanged and its data from before is in {kept} (with its .keys)"
            )
        if not same:  # the restored data knows the snapshot's root token and keys only
            write_secret(env.paths, "root-token", keys["root_token"])
            if mode == "transit":
                write_secret(env.paths, "recovery-keys", "\n".join(keys["recovery_keys"]))
                # An in-memory KMS that restarts is given this key again (not the one this environment was made with)
                write_secret(env.paths, "transit-key-backup", keys["transit_key_backup"])
            else:
                write_secret(env.paths, "unseal-keys", "\n".join(keys["unseal_keys"]))
    if not same:
        env.wait_healthy(RESTORE_TIMEOUT)  # every DC has the restored data (a restart before would lose it)
        _restart_all(env)
    env.wait_healthy(RESTORE_TIMEOUT)
    return f"restored {path} through {leader.name}" + ("" if same else f" (taken in {keys.get('environment')!r})")


def _restart_all(env: Environment) -> None:
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
        env.started(node, f"node:{node.name}")
