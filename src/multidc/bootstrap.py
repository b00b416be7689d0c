"""Bringing servers from "listening" to "serving": KMS init and preparation, primary init, cluster settings.

Everything here speaks only the Vault API, so every provider uses the same steps.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import hvac

from .pipeline import wait_until
from .topology import AutopilotSettings
from .vaultapi import TRANSIENT, get

UNSEAL_KEYS_PATH = "vault-unseal-keys"  # at secret/data/vault-unseal-keys, as Bank-Vaults' unsealConfig.vault
SECRET_SHARES = 5  # Bank-Vaults' defaults
SECRET_THRESHOLD = 3


@dataclass(frozen=True)
class InitResult:
    root_token: str
    keys: list[str]  # unseal keys (Shamir) or recovery keys (auto-unseal)


def initialize(
    c: hvac.Client, auto_unseal: bool, shares: int = SECRET_SHARES, threshold: int = SECRET_THRESHOLD
) -> InitResult:
    """`operator init`: recovery keys under an auto-unseal seal, Shamir keys otherwise."""
    if auto_unseal:
        body = {"recovery_shares": shares, "recovery_threshold": threshold}
    else:
        body = {"secret_shares": shares, "secret_threshold": threshold}
    result = c.adapter.put("/v1/sys/init", json=body)
    keys = result.get("recovery_keys_base64" if auto_unseal else "keys_base64") or []
    return InitResult(root_token=result["root_token"], keys=list(keys))


def unseal(c: hvac.Client, keys: list[str]) -> bool:
    """Submit keys until the server reports unsealed; True when it is."""
    for key in keys:
        state = c.adapter.put("/v1/sys/unseal", json={"key": key})
        if not state.get("sealed", True):
            return True
    return False


def wait_listening(c: hvac.Client, timeout: float) -> dict[str, Any]:
    """Wait until sys/seal-status answers (any state)."""

    def probe() -> dict[str, Any] | None:
        code, body = get(c, "/v1/sys/seal-status")
        return body if code == 200 else None

    return wait_until(probe, timeout, f"{c.url} to answer", interval=0.02)


def wait_active(c: hvac.Client, timeout: float) -> None:
    """Wait until the server is unsealed and active (sys/health 200)."""

    def probe() -> bool | None:
        code, _ = get(c, "/v1/sys/health")
        return True if code == 200 else None

    wait_until(probe, timeout, f"{c.url} to become active", interval=0.02)


def start_kms(c: hvac.Client) -> InitResult:
    """Initialise the central KMS with one Shamir key and unseal it."""
    result = initialize(c, auto_unseal=False, shares=1, threshold=1)
    unseal(c, result.keys)
    return result


def token_id() -> str:
    """A token ID multidc chooses, so it can make the same token again on a KMS that lost its memory (OpenBao refuses
    custom IDs with the `s.` prefix of the IDs it makes itself)."""
    return f"multidc-{secrets.token_hex(16)}"


def make_root_token(c: hvac.Client, token: str) -> None:
    """A root token with a chosen ID (what multidc keeps as the KMS's token; the one `init` returned is revoked)."""
    c.auth.token.create(id=token, policies=["root"], no_parent=True)
    c.auth.token.revoke_self()
    c.token = token


def prepare_transit(c: hvac.Client, key_name: str, token: str | None = None, backup: str | None = None) -> str:
    """Transit engine, a key, a policy limited to it, and a renewable token for the DC nodes' seal stanza.

    The key can always be backed up (`backup_key`); with `backup` it is restored from one (the same
    key material: what the nodes' seals wrapped still decrypts); with `token` the seal token gets that ID."""
    mounts = c.sys.list_mounted_secrets_engines()
    if "transit/" not in mounts.get("data", mounts):
        c.sys.enable_secrets_engine("transit", path="transit")
    # Exportable with a plaintext backup, always: an in-memory KMS gets it back after a restart, and `snapshot save`
    # keeps it beside the snapshot so the snapshot can be restored into a fresh environment (whose KMS has another
    # key). A test KMS, not a production one.
    if backup is not None:  # forced: the same material again over a key a completed preparation restored already
        c.adapter.post(f"/v1/transit/restore/{key_name}", json={"backup": backup, "force": True})
    else:
        c.secrets.transit.create_key(
            name=key_name, key_type="aes256-gcm96", exportable=True, allow_plaintext_backup=True
        )
    policy = f"""
path "transit/encrypt/{key_name}" {{ capabilities = ["update"] }}
path "transit/decrypt/{key_name}" {{ capabilities = ["update"] }}
path "auth/token/renew-self" {{ capabilities = ["update"] }}
path "auth/token/lookup-self" {{ capabilities = ["read"] }}
"""
    name = f"{key_name}-seal"
    c.sys.create_or_update_policy(name=name, policy=policy)
    # A periodic token with its own renew-self right: the seal renews it; without the right it silently expires.
    return _periodic_token(c, name, token)


def _periodic_token(c: hvac.Client, policy: str, token: str | None) -> str:
    """A renewable periodic token with only this policy (its ID `token` if given). One that exists already is kept:
    a preparation interrupted after making it is completed by running it again."""
    try:
        made = c.auth.token.create(id=token, policies=[policy], no_default_policy=True, period="768h", renewable=True)
    except hvac.exceptions.InvalidRequest as exc:
        if token is None or "duplicate ID" not in str(exc):
            raise
        return token
    return str(made["auth"]["client_token"])


def backup_key(c: hvac.Client, key_name: str) -> str:
    """The transit key's plaintext backup (its material): what makes it again on a KMS that lost its memory."""
    return str(c.adapter.get(f"/v1/transit/backup/{key_name}")["data"]["backup"])


def prepare_kv(c: hvac.Client, env: str, token: str | None = None) -> str:
    """KV v2 at secret/ and a token that may only read the unseal keys (what each DC's unsealer holds)."""
    mounts = c.sys.list_mounted_secrets_engines()
    if "secret/" not in mounts.get("data", mounts):
        c.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    policy = f"""
path "secret/data/{UNSEAL_KEYS_PATH}" {{ capabilities = ["read"] }}
path "auth/token/renew-self" {{ capabilities = ["update"] }}
path "auth/token/lookup-self" {{ capabilities = ["read"] }}
"""
    name = f"{env}-unsealer"
    c.sys.create_or_update_policy(name=name, policy=policy)
    return _periodic_token(c, name, token)


def store_unseal_keys(kms: hvac.Client, result: InitResult) -> None:
    """Keys and root token at secret/data/vault-unseal-keys, named as Bank-Vaults names them."""
    data = {f"vault-unseal-{i}": key for i, key in enumerate(result.keys)}
    data["vault-root"] = result.root_token
    kms.secrets.kv.v2.create_or_update_secret(path=UNSEAL_KEYS_PATH, secret=data, mount_point="secret")


def read_unseal_keys(kms: hvac.Client) -> list[str]:
    response = kms.secrets.kv.v2.read_secret_version(
        path=UNSEAL_KEYS_PATH, mount_point="secret", raise_on_deleted_version=True
    )
    data = response["data"]["data"]
    return [data[k] for k in sorted(data) if k.startswith("vault-unseal-")]


def join(c: hvac.Client, leader_api_addr: str, leader_ca_pem: str | None) -> bool:
    """Ask a node to join the Raft cluster through leader_api_addr; False when it refused (e.g. already joined)."""
    try:
        response = c.sys.join_raft_cluster(leader_api_addr=leader_api_addr, leader_ca_cert=leader_ca_pem)
    except TRANSIENT:
        return False
    body = response if isinstance(response, dict) else response.json()
    return bool(body.get("joined"))


def unseal_joined(c: hvac.Client, recovery_keys: list[str], timeout: float) -> bool:
    """Unseal a node that has just joined now, not at the next retry of its seal or unsealer.

    Under an auto-unseal seal OpenBao retries the unseal of a joined node only every 5 s from its start; given the
    recovery keys it unseals at once (still through its seal). Under Shamir the keys are the unseal keys themselves (a
    share an unsealer gives too counts once). Until the cluster's data has reached it the node answers 500: try again.
    """

    def unsealed() -> bool:
        try:
            _, status = get(c, "/v1/sys/seal-status")
            if status and not status.get("sealed", True):
                return True
            return bool(status.get("initialized")) and unseal(
                c, recovery_keys[: int(status.get("t") or len(recovery_keys))]
            )
        except TRANSIENT:
            with contextlib.suppress(*TRANSIENT):
                c.adapter.put("/v1/sys/unseal", json={"reset": True})
            return False

    try:
        wait_until(unsealed, timeout, f"{c.url} to unseal", interval=0.02)
    except TimeoutError:
        return False
    return True


def configure_cluster(c: hvac.Client, autopilot: AutopilotSettings) -> None:
    """Autopilot tuned for a test cluster, and KV v2 at secret/ (as the seed's externalConfig mounts it)."""
    configure_autopilot(c, autopilot)
    mount_kv(c)


def configure_autopilot(c: hvac.Client, autopilot: AutopilotSettings) -> None:
    c.adapter.post("/v1/sys/storage/raft/autopilot/configuration", json=autopilot.model_dump())


def mount_kv(c: hvac.Client) -> None:
    """KV v2 at secret/, unless mounted."""
    mounts = c.sys.list_mounted_secrets_engines()
    if "secret/" not in mounts.get("data", mounts):
        c.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})


def wait_writable(c: hvac.Client, timeout: float) -> float:
    """Wait until a KV write through this node succeeds; returns the seconds it took."""
    start = time.monotonic()

    def probe() -> bool | None:
        c.secrets.kv.v2.create_or_update_secret(path="multidc/ready", secret={"at": time.time()}, mount_point="secret")
        return True

    wait_until(probe, timeout, f"a write through {c.url}", interval=0.1)
    return time.monotonic() - start
