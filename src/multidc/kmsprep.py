"""The central KMS of an environment whose KMS multidc runs itself (netns, docker): prepared from empty, stocked with
what the DCs need, and brought back after a restart. Provider-neutral: it is given a client to the KMS, the plan (what
the environment needs from it) and the environment's paths (where its secrets are kept)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from . import bootstrap
from .state import read_secret, write_secret

if TYPE_CHECKING:
    import hvac

    from .paths import EnvPaths
    from .topology import Topology


class KmsPlan(Protocol):
    """What of a provider's plan the KMS's preparation reads."""

    @property
    def env(self) -> str: ...

    @property
    def topology(self) -> Topology: ...

    @property
    def transit_key(self) -> str: ...

    @property
    def kms_storage(self) -> str: ...


def provision(c: hvac.Client, plan: KmsPlan, paths: EnvPaths, timeout: float) -> None:
    """Initialise and unseal a KMS that holds nothing, then give it what the environment needs: a root token, the
    transit key and the seal token (transit), or KV v2, the unsealers' token and the unseal keys (kv). Tokens get
    IDs multidc chose and the transit key a backup, so an in-memory KMS that restarts empty gets the very same
    again: the nodes' seal token and wrapped keys stay valid (what `revive` relies on)."""
    result = bootstrap.start_kms(c)
    write_secret(paths, "kms-unseal-key", result.keys[0])
    c.token = result.root_token
    bootstrap.wait_active(c, timeout)
    root = read_secret(paths, "kms-root-token") or bootstrap.token_id()
    bootstrap.make_root_token(c, root)
    write_secret(paths, "kms-root-token", root)
    stock(c, plan, paths)


def stock(c: hvac.Client, plan: KmsPlan, paths: EnvPaths) -> None:
    """What the environment needs in the KMS (c: as its root): the transit key and the seal token (transit), or
    KV v2, the unsealers' token and the unseal keys (kv). Each step keeps what is there already, so it also
    completes a preparation that was interrupted (netns/kms.py)."""
    if plan.topology.unseal == "transit":
        backup = read_secret(paths, "transit-key-backup")
        seal = read_secret(paths, "seal-token") or bootstrap.token_id()
        bootstrap.prepare_transit(c, plan.transit_key, seal, backup)
        write_secret(paths, "seal-token", seal)
        if backup is None and plan.kms_storage == "inmem":
            write_secret(paths, "transit-key-backup", bootstrap.backup_key(c, plan.transit_key))
    else:
        unsealer = read_secret(paths, "unsealer-token") or bootstrap.token_id()
        bootstrap.prepare_kv(c, plan.env, unsealer)
        write_secret(paths, "unsealer-token", unsealer)
        keys, root_token = read_secret(paths, "unseal-keys"), read_secret(paths, "root-token")
        if keys and root_token:  # the primary was initialised: its keys go back where the unsealers read them
            bootstrap.store_unseal_keys(c, bootstrap.InitResult(root_token, keys.split()))


def revive(c: hvac.Client, plan: KmsPlan, paths: EnvPaths, timeout: float, stop: Callable[[], object]) -> None:
    """A KMS server that was just started again (and answers): in memory it came back empty, and gets again the same
    root token, transit key, seal token (or unsealer token and unseal keys); on raft it came back sealed, and is
    unsealed with its own key."""
    if plan.kms_storage == "inmem":
        try:
            provision(c, plan, paths, timeout)
        except BaseException:
            # An empty KMS must not pass for a running one: stopped, it is still down for `kms-up` and `up`.
            stop()
            raise
    else:
        bootstrap.unseal(c, [read_secret(paths, "kms-unseal-key") or ""])
