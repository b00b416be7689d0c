"""A restore rehearsed on a scratch server before the environment is touched.

A snapshot from another environment (or with a root token that is not this environment's) can only be proven
against its own data: FILE.keys's transit key (or unseal keys) must open it and its root token must be a root token
in it. multidc starts a one-node OpenBao of the leader's version on the host's loopback, with its own empty
Raft directory inside the environment's directory, sealed by the snapshot's transit key (put into this environment's
KMS under a scratch name) or by Shamir keys (kv), initialises it, restores the snapshot into it and looks the token
up. Then the server, its directory and the scratch key go, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hvac

from ... import bootstrap, pipeline, serverconfig
from ...errors import ProviderError, TopologyError
from ...paths import write_private
from ...state import read_secret
from ...vaultapi import client, get, raw
from .transfer import RESTORE_TIMEOUT, Refused, keys_path, lookup, send

if TYPE_CHECKING:
    from .environment import Environment

START_TIMEOUT = 20.0
NOT_STARTED: tuple[type[BaseException], ...] = (TimeoutError, *pipeline.TRANSIENT)


def _free_ports(count: int) -> list[int]:
    """Ports the kernel has free on the host's loopback now (held together, so they differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def rehearse(env: Environment, path: Path, data: bytes, keys: dict[str, Any], binary: str) -> None:
    """Restore `data` into a scratch server with FILE.keys's seal; refuse (TopologyError, nothing changed) unless it
    opens and knows FILE.keys's root token as a root token."""
    transit = env.plan.topology.unseal == "transit"
    kms = env.client(env.plan.kms, read_secret(env.paths, "kms-root-token"), timeout=10)
    scratch_key = f"{env.plan.transit_key}-rehearsal"
    work = Path(tempfile.mkdtemp(prefix="rehearsal-", dir=env.paths.root))
    pid: int | None = None
    try:
        seal = None
        if transit:
            put = raw(
                kms,
                "POST",
                f"/v1/transit/restore/{scratch_key}",
                json={"backup": keys["transit_key_backup"], "force": True},
            )
            if put.status_code not in (200, 204):
                raise TopologyError(
                    f"{keys_path(path)}: the KMS would not take its transit key (HTTP {put.status_code})"
                )
            token = read_secret(env.paths, "kms-root-token") or ""
            seal = serverconfig.transit_seal(env.plan.host_url(env.plan.kms), token, scratch_key, env.ca)
        port, cluster_port = _free_ports(2)
        url = f"http://127.0.0.1:{port}"
        tcp = {"address": f"127.0.0.1:{port}", "cluster_address": f"127.0.0.1:{cluster_port}", "tls_disable": True}
        listener: dict[str, Any] = {"tcp": tcp}
        storage = {"raft": {"path": str(work), "node_id": "rehearsal", "performance_multiplier": 1}}
        config = serverconfig.server(url, f"https://127.0.0.1:{cluster_port}", listener, storage, seal=seal)
        write_private(work / "config.json", json.dumps(config))
        pid = env.host.spawn([binary, "server", f"-config={work / 'config.json'}"], None, work / "server.log")
        _prove(url, path, data, keys, transit, work)
    finally:
        if pid is not None:
            env.host.terminate([pid], grace=5.0)
        shutil.rmtree(work, ignore_errors=True)
        if transit:
            with contextlib.suppress(*pipeline.TRANSIENT):
                raw(kms, "POST", f"/v1/transit/keys/{scratch_key}/config", json={"deletion_allowed": True})
                raw(kms, "DELETE", f"/v1/transit/keys/{scratch_key}")


def _prove(url: str, path: Path, data: bytes, keys: dict[str, Any], transit: bool, work: Path) -> None:
    c = client(url, None, timeout=30)
    try:
        bootstrap.wait_listening(c, START_TIMEOUT)
        if transit:
            init = bootstrap.initialize(c, True, shares=1, threshold=1)
        else:
            # As many shares as the snapshot's cluster: the running server keeps its own seal configuration after a
            # restore, so the snapshot's keys are taken only if share count and threshold are what multidc made
            shares = max(len(keys.get("unseal_keys") or []), bootstrap.SECRET_THRESHOLD)
            init = bootstrap.initialize(c, False, shares=shares)
            bootstrap.unseal(c, init.keys)
        bootstrap.wait_active(c, START_TIMEOUT)
    except NOT_STARTED as exc:
        log = (work / "server.log").read_text(errors="replace").strip().splitlines()[-1:] if work.exists() else []
        raise ProviderError(f"the scratch server for the rehearsal did not start ({exc}): {' '.join(log)}") from None
    kp = keys_path(path)
    try:
        # Transit: the plain endpoint, so OpenBao checks that the snapshot's key (this server's seal) opens it.
        marker = send(url, None, init.root_token, data, force=not transit)
    except Refused as exc:
        if "could not verify hash file" in str(exc):
            raise TopologyError(
                f"{kp}: its transit key does not open {path} (another snapshot's keys?); nothing changed"
            ) from None
        raise TopologyError(f"{path}: OpenBao refused it ({exc}); nothing changed") from None

    def in_place() -> bool | None:
        if not transit and get(c, "/v1/sys/seal-status")[1].get("sealed"):
            # Shamir: the restored data is sealed by the snapshot's keys; the server seals itself until given them
            try:
                if not bootstrap.unseal(c, list(keys.get("unseal_keys") or [])):
                    raise hvac.exceptions.InvalidRequest
            except hvac.exceptions.InvalidRequest:
                raise TopologyError(f"{kp}: its unseal keys do not open {path}; nothing changed") from None
            return None
        return lookup(url, None, marker) == "unknown" or None

    try:
        pipeline.wait_until(in_place, RESTORE_TIMEOUT, "the snapshot in place on the scratch server", interval=0.2)
        known = pipeline.wait_until(lambda: lookup(url, None, keys["root_token"]), RESTORE_TIMEOUT, "a token lookup")
    except TimeoutError as exc:
        raise TopologyError(f"{path}: did not come up on a scratch server ({exc}); nothing changed") from None
    if known != "root":
        raise TopologyError(f"{kp}: its root token is not a root token of {path}'s data; nothing changed")
