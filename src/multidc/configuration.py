"""The `configuration` section of a topology: Bank-Vaults' `externalConfig`, same keys and shapes, validated.

    configuration:
      policies:
        - name: allow_secrets
          rules: path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }
      auth:
        - type: userpass
          users:
            - {username: alice, password: s3cret, token_policies: allow_secrets}
        - type: approle
          roles:
            - {name: app, token_policies: [allow_secrets]}
      secrets:
        - {path: secret, type: kv, options: {version: 2}}
        - type: pki
          config: {default_lease_ttl: 168h, max_lease_ttl: 720h}
          configuration:
            root/generate: [{name: internal, common_name: multidc.test}]
            roles: [{name: default, allowed_domains: test, allow_subdomains: true, ttl: 1h}]
        - type: transit
          configuration:
            keys: [{name: orders, type: aes256-gcm96}]
      startupSecrets:
        - {type: kv, path: secret/data/accounts/aws, data: {data: {AWS_ACCESS_KEY_ID: secretId}}}

Problems (an unknown type or key, a policy that does not parse, a role naming a missing policy) are one line each.
"""

from __future__ import annotations

from typing import Any, Literal

import hcl
from pydantic import BaseModel, ConfigDict, Field, field_validator

CAPABILITIES = {"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe", "recover", "scan"}
AUTH_TYPES = ("userpass", "approle", "kubernetes", "cert")
SECRET_TYPES = ("kv", "pki", "transit")
BUILTIN_POLICIES = {"default", "root"}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Policy(Strict):
    name: str
    rules: str

    @field_validator("rules")
    @classmethod
    def _parses(cls, rules: str) -> str:
        check_policy(rules)
        return rules


class Auth(Strict):
    type: Literal["userpass", "approle", "kubernetes", "cert"]
    path: str | None = None
    description: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # mount tuning
    config: dict[str, Any] = Field(default_factory=dict)  # the method's own config endpoint
    roles: list[dict[str, Any]] = Field(default_factory=list)  # approle, kubernetes, cert
    users: list[dict[str, Any]] = Field(default_factory=list)  # userpass

    @property
    def mount(self) -> str:
        return (self.path or self.type).strip("/")


class Secret(Strict):
    type: Literal["kv", "pki", "transit"]
    path: str | None = None
    description: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)  # e.g. kv {version: 2}
    config: dict[str, Any] = Field(default_factory=dict)  # mount tuning (default_lease_ttl, max_lease_ttl)
    configuration: dict[str, Any] = Field(default_factory=dict)  # engine settings (pki roles, transit keys, ...)

    @property
    def mount(self) -> str:
        return (self.path or self.type).strip("/")


class StartupSecret(Strict):
    type: Literal["kv"]
    path: str
    data: dict[str, Any]


class Configuration(Strict):
    policies: list[Policy] = Field(default_factory=list)
    auth: list[Auth] = Field(default_factory=list)
    secrets: list[Secret] = Field(default_factory=list)
    startupSecrets: list[StartupSecret] = Field(default_factory=list)  # noqa: N815 - Bank-Vaults' spelling

    def is_empty(self) -> bool:
        return not (self.policies or self.auth or self.secrets or self.startupSecrets)


def check_policy(rules: str) -> None:
    """Parse HCL policy rules as OpenBao will; raise ValueError naming what is wrong."""
    try:
        parsed = hcl.loads(rules)
    except ValueError as exc:
        raise ValueError(f"policy rules do not parse as HCL: {exc}") from None
    if not isinstance(parsed, dict) or set(parsed) - {"path", "name"}:
        raise ValueError(f"policy rules may only hold `path` blocks (found: {', '.join(sorted(parsed))})")
    for path, body in (parsed.get("path") or {}).items():
        caps = body.get("capabilities") if isinstance(body, dict) else None
        if not isinstance(caps, list):
            raise ValueError(f'policy path "{path}" has no capabilities list')
        unknown = sorted(set(caps) - CAPABILITIES)
        if unknown:
            raise ValueError(f'policy path "{path}" has unknown capabilities {unknown}; use {sorted(CAPABILITIES)}')


def role_policies(item: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for key in ("policies", "token_policies"):
        value = item.get(key)
        if isinstance(value, str):
            names += [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list):
            names += [str(v) for v in value]
    return names


def cross_check(config: Configuration, where: str) -> list[str]:
    """Problems the schema cannot see: roles and users naming missing policies, roles without names, duplicates."""
    problems = []
    known = {p.name for p in config.policies} | BUILTIN_POLICIES
    for i, auth in enumerate(config.auth):
        items = [("roles", "name", r) for r in auth.roles] + [("users", "username", u) for u in auth.users]
        if auth.users and auth.type != "userpass":
            problems.append(f"{where}.auth[{i}].users: only userpass has users; use roles for {auth.type}")
        for kind, key, item in items:
            label = item.get(key)
            if not label:
                problems.append(f"{where}.auth[{i}].{kind}: an entry has no {key!r}; give every entry a {key}")
                continue
            for policy in role_policies(item):
                if policy not in known:
                    problems.append(
                        f"{where}.auth[{i}].{kind}[{label}]: policy {policy!r} is not defined; add it to "
                        "configuration.policies or fix the name"
                    )
    mounts = [s.mount for s in config.secrets]
    for dup in sorted({m for m in mounts if mounts.count(m) > 1}):
        problems.append(f"{where}.secrets: path {dup!r} is mounted twice; give each engine its own path")
    paths = [a.mount for a in config.auth]
    for dup in sorted({m for m in paths if paths.count(m) > 1}):
        problems.append(f"{where}.auth: path {dup!r} is enabled twice; give each method its own path")
    return problems
