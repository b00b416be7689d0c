"""The set workload: clients add unique elements through every DC; every DC must end up holding every acknowledged add.

Representation: each element is its own KV v2 secret (`<mount>/data/<element>`) on a kv-v2 mount of its own
(`<prefix>/set`), and a final read is a LIST of the mount. An add is then one independent write with nothing to
conflict with, so the check is about durability alone: an acknowledged write must survive every fault and reach every
DC. One secret updated with check-and-set would be a register again (the register workload covers that), and its
conflicts would make most adds fail under contention rather than test that they last. Its own mount makes cleanup one
unmount; setup waits out the moment a new kv-v2 mount answers "upgrading" through the standbys.
"""

from __future__ import annotations

from typing import Any, ClassVar

import hvac

from ...configure import wait_upgraded
from ..workload import answered
from .clients import Client, Clients


class SetWorkload(Clients):
    name: ClassVar[str] = "set"
    mutations: ClassVar[tuple[str, ...]] = ("add",)

    @property
    def mount(self) -> str:
        return f"{self.prefix}/set"

    def prepare(self) -> None:
        admin = self.admin()
        if f"{self.mount}/" not in admin.sys.list_mounted_secrets_engines()["data"]:
            admin.sys.enable_secrets_engine("kv", path=self.mount, options={"version": "2"})
        wait_upgraded([self.api(dc) for dc in self.endpoints], [self.mount])
        self.catch_up()

    def operation(self, c: Client) -> None:
        element = self.next_value()

        def add() -> int:
            answered(
                c.api.secrets.kv.v2.create_or_update_secret(
                    path=str(element), secret={"through": c.dc}, mount_point=self.mount
                )
            )
            return element

        self.attempt(c, "add", element, add)

    def observe(self, c: Client) -> None:
        def listed() -> list[Any]:
            try:
                got = c.api.secrets.kv.v2.list_secrets(path="", mount_point=self.mount)
            except hvac.exceptions.InvalidPath:  # an empty mount lists nothing (404)
                return []
            answered(got)
            return sorted((int(k) if k.isdigit() else k for k in got["data"]["keys"]), key=str)

        self.attempt(c, "read", None, listed, mutating=False)

    def remove(self) -> None:
        self.admin().sys.disable_secrets_engine(self.mount)
