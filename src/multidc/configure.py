"""Applying a `configuration` (Bank-Vaults externalConfig) through the Vault API, idempotently.

Every item is read first and written only when it differs from the file (a live value that already holds every field
the file gives counts as equal), so applying twice changes nothing. The same comparison, without writing, is the drift
report of `status`. Passwords and generated roots cannot be read back: a userpass user is written when missing or when
its other fields differ, a PKI root is generated only when the engine has no CA yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import hvac

from .configuration import Auth, Configuration, Secret

SECRET_FIELDS_NOT_READABLE = {"password", "secret_id", "certificate"}


@dataclass
class Change:
    kind: str  # policy | auth | auth-config | role | user | secret | secret-config | pki-root | key | startup
    name: str
    action: str  # create | update


@dataclass
class Result:
    changes: list[Change] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # items per kind in the file

    @property
    def in_sync(self) -> bool:
        return not self.changes


def _covers(live: Any, wanted: Any) -> bool:
    """Whether the live value holds every field the file gives (numbers and durations compared loosely)."""
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(
            k in SECRET_FIELDS_NOT_READABLE or _covers(live.get(k), v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return isinstance(live, list) and sorted(map(str, live)) == sorted(map(str, wanted))
    if isinstance(wanted, str) and "," in wanted and isinstance(live, list):
        return sorted(x.strip() for x in wanted.split(",")) == sorted(map(str, live))
    if isinstance(wanted, str) and isinstance(live, list):
        return live == [wanted]
    if live == wanted or str(live) == str(wanted):
        return True
    return _seconds(wanted) is not None and _seconds(wanted) == _seconds(live)


def _seconds(value: Any) -> float | None:
    from .topology import DURATION, seconds

    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and DURATION.match(value):
        return seconds(value)
    return None


def _read(c: hvac.Client, path: str) -> dict[str, Any] | None:
    try:
        response = c.read(path)
    except hvac.exceptions.InvalidPath:
        return None
    except hvac.exceptions.Forbidden:
        return None
    return response.get("data") if isinstance(response, dict) else None


class Configurator:
    def __init__(self, c: hvac.Client, dry_run: bool = False) -> None:
        self.c = c
        self.dry_run = dry_run
        self.result = Result()

    def _do(self, kind: str, name: str, action: str, write: Callable[[], object]) -> None:
        self.result.changes.append(Change(kind, name, action))
        if not self.dry_run:
            write()

    def apply(self, config: Configuration) -> Result:
        self.result.counts = dict(
            Counter(
                ["policies"] * len(config.policies)
                + ["auth"] * len(config.auth)
                + ["secrets"] * len(config.secrets)
                + ["startupSecrets"] * len(config.startupSecrets)
            )
        )
        for policy in config.policies:
            self.policy(policy.name, policy.rules)
        auths = self.c.sys.list_auth_methods().get("data") or {}
        for auth in config.auth:
            self.auth(auth, auths)
        mounts = self.c.sys.list_mounted_secrets_engines().get("data") or {}
        for secret in config.secrets:
            self.secret(secret, mounts)
        for item in config.startupSecrets:
            self.startup(item.path, item.data)
        return self.result

    def policy(self, name: str, rules: str) -> None:
        live = _read(self.c, f"sys/policy/{name}")
        if live is None or (live.get("rules") or "").strip() != rules.strip():
            self._do(
                "policy",
                name,
                "create" if live is None else "update",
                lambda: self.c.sys.create_or_update_policy(name=name, policy=rules),
            )

    def auth(self, auth: Auth, enabled: dict[str, Any]) -> None:
        mount = auth.mount
        if f"{mount}/" not in enabled:
            self._do(
                "auth",
                mount,
                "create",
                lambda: self.c.sys.enable_auth_method(
                    method_type=auth.type, path=mount, description=auth.description, config=auth.options or None
                ),
            )
        elif enabled[f"{mount}/"].get("type") != auth.type:
            raise ValueError(f"auth path {mount!r} holds a {enabled[f'{mount}/'].get('type')} method, not {auth.type}")
        if auth.config:
            live = _read(self.c, f"auth/{mount}/config") if f"{mount}/" in enabled else None
            if live is None or not _covers(live, auth.config):
                self._do(
                    "auth-config", mount, "update", lambda: self.c.write_data(f"auth/{mount}/config", data=auth.config)
                )
        collection = {"userpass": "users", "approle": "role", "kubernetes": "role", "cert": "certs"}[auth.type]
        for item in auth.users if auth.type == "userpass" else auth.roles:
            label = str(item.get("username") or item.get("name"))
            body = {k: v for k, v in item.items() if k not in ("name", "username")}
            path = f"auth/{mount}/{collection}/{label}"
            live = _read(self.c, path) if f"{mount}/" in enabled else None
            if live is None or not _covers(live, body):
                self._do(
                    "user" if auth.type == "userpass" else "role",
                    f"{mount}/{label}",
                    "create" if live is None else "update",
                    partial(self.c.write_data, path, data=body),
                )

    def secret(self, secret: Secret, mounts: dict[str, Any]) -> None:
        mount = secret.mount
        exists = f"{mount}/" in mounts
        if not exists:
            options = {k: str(v) for k, v in secret.options.items()} or None
            self._do(
                "secret",
                mount,
                "create",
                lambda: self.c.sys.enable_secrets_engine(
                    backend_type=secret.type,
                    path=mount,
                    description=secret.description,
                    options=options,
                    config=secret.config or None,
                ),
            )
        else:
            live = mounts[f"{mount}/"]
            if live.get("type") not in (secret.type, "generic" if secret.type == "kv" else secret.type):
                raise ValueError(f"secrets path {mount!r} holds a {live.get('type')} engine, not {secret.type}")
            if secret.config and not _covers(live.get("config") or {}, secret.config):
                self._do(
                    "secret-config",
                    mount,
                    "update",
                    lambda: self.c.sys.tune_mount_configuration(path=mount, **secret.config),
                )
        for section, entries in secret.configuration.items():
            for entry in entries if isinstance(entries, list) else [entries]:
                self.engine_item(secret, mount, section, dict(entry), exists)

    def engine_item(self, secret: Secret, mount: str, section: str, entry: dict[str, Any], exists: bool) -> None:
        name = str(entry.pop("name", ""))
        if secret.type == "pki" and section.startswith("root/generate"):
            has_ca = exists and self._pki_has_ca(mount)
            if not has_ca:
                self._do(
                    "pki-root",
                    mount,
                    "create",
                    lambda: self.c.write_data(f"{mount}/root/generate/{name or 'internal'}", data=entry),
                )
            return
        if secret.type == "transit" and section == "keys":
            live = _read(self.c, f"{mount}/keys/{name}") if exists else None
            if live is None:
                self._do(
                    "key", f"{mount}/{name}", "create", lambda: self.c.write_data(f"{mount}/keys/{name}", data=entry)
                )
            return
        path = f"{mount}/{section}/{name}" if section in ("roles",) else f"{mount}/{section}"
        if section == "config" and name:
            path = f"{mount}/config/{name}"
        live = _read(self.c, path) if exists else None
        if live is None or not _covers(live, entry):
            self._do(
                "secret-config",
                path,
                "create" if live is None else "update",
                lambda: self.c.write_data(path, data=entry),
            )

    def _pki_has_ca(self, mount: str) -> bool:
        try:
            response = self.c.adapter.get(f"/v1/{mount}/cert/ca", raise_exception=False)
        except Exception:  # noqa: BLE001
            return False
        data = response.get("data") if isinstance(response, dict) else None
        return bool(data and data.get("certificate"))

    def startup(self, path: str, data: dict[str, Any]) -> None:
        live = _read(self.c, path)
        wanted = data.get("data", data) if "/data/" in f"/{path}" else data
        current = (live or {}).get("data") if live and "/data/" in f"/{path}" else live
        if current is None or not _covers(current, wanted):
            self._do(
                "startup", path, "create" if current is None else "update", lambda: self.c.write_data(path, data=data)
            )


def apply(c: hvac.Client, config: Configuration, dry_run: bool = False) -> Result:
    return Configurator(c, dry_run).apply(config)


def kv2_mounts(config: Configuration) -> list[str]:
    """The kv-v2 mounts a configuration makes (each answers "upgrading" through a standby for a moment after)."""
    return [s.mount for s in config.secrets if s.type == "kv" and str(s.options.get("version")) == "2"]


UPGRADED_WAIT = 15.0  # measured: a new kv-v2 mount answers "upgrading" ~0.05 s on the leader, up to ~1 s on a standby


def wait_upgraded(clients: list[hvac.Client], mounts: list[str], timeout: float = UPGRADED_WAIT) -> None:
    """Wait until every server answers the kv-v2 mounts without the upgrade answer (a read may then say 404)."""
    from .consistency import UPGRADING
    from .pipeline import wait_until
    from .vaultapi import get

    def upgraded(c: hvac.Client, mount: str) -> bool:
        code, body = get(c, f"/v1/{mount}/data/multidc-upgrade-probe")
        return not (code == 400 and UPGRADING in " ".join(map(str, body.get("errors") or [])))

    for c in clients:
        for mount in mounts:
            wait_until(partial(upgraded, c, mount), timeout, f"kv-v2 mount {mount} through {c.url}")
