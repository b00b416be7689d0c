"""The tokens workload: clients create tokens through every DC and revoke some they created; afterwards every DC must
find each acknowledged token valid, and none whose revoke was acknowledged.

Only accessors are recorded, never token IDs: the history goes into a report on disk. The clients authenticate with a
parent token that setup creates (its policy allows creating tokens and revoking by accessor, nothing else); every
token they create is its child, so cleanup revokes the parent and with it every token of the run, also those whose
create had an unknown outcome and whose accessor nobody saw. The final lookups use the root token
(`auth/token/lookup-accessor`).

Unknown outcomes: a create that ended `info` is not judged (no accessor to look up); a revoke that ended `info` allows
the token to be valid or not; a revoke that `fail`ed (e.g. a standby's 400 "token not found" for a token it has not
replicated yet: nothing was revoked) leaves a token that must still be valid.
"""

from __future__ import annotations

from typing import Any, ClassVar

import hvac

from ..workload import answered
from .clients import Client, Clients, Noted, no_content, slug

TTL = "1h"  # each token's TTL: longer than any run, so none expires before the final lookups
REVOKE_SHARE = 0.3  # of operations, when the client has a token of its own left to revoke


class TokenWorkload(Clients):
    name: ClassVar[str] = "tokens"
    mutations: ClassVar[tuple[str, ...]] = ("create", "revoke")

    _parent: str | None = None
    _parent_accessor: str | None = None

    @property
    def policy(self) -> str:
        return f"{slug(self.prefix)}-tokens"

    def prepare(self) -> None:
        admin = self.admin()
        admin.sys.create_or_update_policy(
            self.policy,
            'path "auth/token/create" { capabilities = ["update"] }\n'
            'path "auth/token/revoke-accessor" { capabilities = ["update"] }\n',
        )
        if self._parent is None:
            # The parent outlives its children by an hour: when it expires, they are revoked with it.
            got = admin.auth.token.create(policies=[self.policy], ttl="2h", meta={"multidc": self.prefix})
            self._parent, self._parent_accessor = got["auth"]["client_token"], got["auth"]["accessor"]
        self.catch_up()  # every DC knows the parent before a client shows it there

    def client_token(self) -> str:
        assert self._parent is not None, "setup() first"
        return self._parent

    def operation(self, c: Client) -> None:
        if c.memory and c.rng.random() < REVOKE_SHARE:
            accessor = c.memory.pop(c.rng.randrange(len(c.memory)))

            def revoke() -> str | Noted:
                got = c.api.auth.token.revoke_accessor(accessor)
                no_content(got)
                if isinstance(got, dict) and got.get("warnings"):
                    # A read-enabled standby that has not replicated the token yet answers on its own: 200, "No token
                    # found with this accessor", nothing revoked. An application sees success; so does the history.
                    return Noted(str(accessor), "; ".join(map(str, got["warnings"])))
                return str(accessor)

            self.attempt(c, "revoke", accessor, revoke)
            return

        def create() -> str:
            got = c.api.auth.token.create(policies=["default"], ttl=TTL)
            answered(got)
            return str(got["auth"]["accessor"])

        outcome, accessor = self.attempt(c, "create", None, create)
        if outcome == "ok":
            c.memory.append(accessor)

    def accessors(self) -> list[str]:
        """Every accessor the history names: acknowledged creates and revoke attempts."""
        found: dict[str, None] = {}
        for e in self.recorder.history():
            if e["f"] == "create" and e["type"] == "ok" or e["f"] == "revoke" and e["type"] == "invoke":
                found[str(e["value"])] = None
        return list(found)

    def observe(self, c: Client) -> None:
        for accessor in self.accessors():

            def lookup(accessor: str = accessor) -> dict[str, Any]:
                try:
                    got = c.api.auth.token.lookup_accessor(accessor)
                except hvac.exceptions.InvalidRequest:  # 400 "invalid accessor": no such token (revoked, expired)
                    return {"accessor": accessor, "valid": False}
                except hvac.exceptions.Forbidden:
                    # The accessor is there but its token is not usable: a revocation under way. Measured after a
                    # leader kill interrupted a revoke: 403 through some DC for a moment, then 400 everywhere once
                    # the new leader had finished it (the root token itself is never refused here).
                    return {"accessor": accessor, "valid": False, "pending": True}
                answered(got)
                return {"accessor": accessor, "valid": got["data"]["accessor"] == accessor}

            self.attempt(c, "lookup", accessor, lookup, mutating=False)

    def remove(self) -> None:
        admin = self.admin()
        if self._parent_accessor is not None:
            admin.auth.token.revoke_accessor(self._parent_accessor)  # and every child with it
            self._parent = self._parent_accessor = None
        admin.sys.delete_policy(self.policy)
