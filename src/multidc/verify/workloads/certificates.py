"""The pki workload: clients issue certificates through every DC from one root CA; every serial must be unique and
every acknowledged certificate in the CA's list through every DC afterwards.

Setup mounts a pki engine at `<prefix>/pki`, generates an internal root CA and a role (EC P-256 keys throughout: key
generation is most of an issue's cost) and records the CA's serial as a `ca` operation, so the checker can also catch
a leaf that repeats it. Certificates live 10 minutes; the role stores them (`no_store` false), or LIST would not show
them. Cleanup unmounts the engine.
"""

from __future__ import annotations

from typing import Any, ClassVar

import hvac

from ..workload import answered
from .clients import Client, Clients, slug

ROLE = "leaf"
TTL = "10m"
CA_TTL = "24h"
KEY = {"key_type": "ec", "key_bits": 256}


class PkiWorkload(Clients):
    name: ClassVar[str] = "pki"
    mutations: ClassVar[tuple[str, ...]] = ("issue",)

    @property
    def mount(self) -> str:
        return f"{self.prefix}/pki"

    def prepare(self) -> None:
        admin = self.admin()
        if f"{self.mount}/" not in admin.sys.list_mounted_secrets_engines()["data"]:
            admin.sys.enable_secrets_engine("pki", path=self.mount, config={"max_lease_ttl": CA_TTL})
        serial = self.root(admin)
        leader = self.leader()
        process, at = self.new_process(leader), self.recorder.now()
        self.recorder.add(process, "invoke", "ca", leader, None, at)  # for the checker: a leaf must not repeat it
        self.recorder.add(process, "ok", "ca", leader, serial, at)
        admin.write_data(
            f"{self.mount}/roles/{ROLE}",
            data={"allow_any_name": True, "enforce_hostnames": False, "max_ttl": "1h", "ttl": TTL, **KEY},
        )
        self.catch_up()

    def root(self, admin: hvac.Client) -> str:
        """The mount's root CA serial, generating the CA when there is none yet."""
        try:
            existing = admin.read(f"{self.mount}/cert/ca")
        except hvac.exceptions.InvalidRequest:  # no CA yet
            existing = None
        if isinstance(existing, dict) and existing["data"].get("certificate"):
            return str(existing["data"]["serial_number"])
        got = admin.write_data(
            f"{self.mount}/root/generate/internal",
            data={"common_name": f"{slug(self.prefix)} root", "ttl": CA_TTL, **KEY},
        )
        answered(got)
        return str(got["data"]["serial_number"])

    def operation(self, c: Client) -> None:
        name = f"{self.next_value()}.{c.dc}.{slug(self.prefix)}.test"

        def issue() -> str:
            got = c.api.write_data(f"{self.mount}/issue/{ROLE}", data={"common_name": name, "ttl": TTL})
            answered(got)
            return str(got["data"]["serial_number"])

        self.attempt(c, "issue", name, issue)

    def observe(self, c: Client) -> None:
        def listed() -> list[Any]:
            got = c.api.list(f"{self.mount}/certs")
            if got is None:  # nothing stored (404)
                return []
            answered(got)
            return sorted(str(s) for s in got["data"]["keys"])

        self.attempt(c, "list", None, listed, mutating=False)

    def remove(self) -> None:
        self.admin().sys.disable_secrets_engine(self.mount)
