"""Read-your-writes across datacenters: OpenBao's consistency index, carried by multidc's clients.

A standby serves reads from its own copy of the data, which can lag the leader by a few milliseconds: a write through
one DC, then at once a read through another, can miss the write. OpenBao 2.7 returns `X-Vault-Index` on every answer
(base64 of `{"cluster": "<id>", "value": "<raft index>"}`). A request that sends it back, with
`X-Vault-Inconsistent: forward-active-node`, is answered by a standby only once it has applied that index, and
forwarded to the active node otherwise. An `IndexedSession` keeps the newest index any of its clients has seen and sends
it with every request; it also waits out the answer a standby gives while a new kv-v2 mount is being upgraded.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from typing import Any, Literal

import requests

Consistency = Literal["index", "eventual"]
CONSISTENCIES: tuple[Consistency, ...] = ("index", "eventual")
INDEX_HEADER = "X-Vault-Index"
INCONSISTENT_HEADER = "X-Vault-Inconsistent"
FORWARD = "forward-active-node"
# The answer while a new kv-v2 mount moves from non-versioned to versioned data, a moment after it is enabled: the
# leader says "Upgrading from non-versioned to versioned data", a standby "Waiting for the primary to upgrade from ...".
UPGRADING = "from non-versioned to versioned data"
UPGRADE_WAIT = 15.0  # seconds a request waits that out, then the answer goes to the caller
UPGRADE_POLL = 0.05


def decode(header: str) -> tuple[str, int] | None:
    """(cluster id, index) of an X-Vault-Index value; None when it is not one OpenBao wrote."""
    try:
        data = json.loads(base64.b64decode(header + "=" * (-len(header) % 4), validate=True))
        return str(data["cluster"]), int(data["value"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


class ConsistencyIndex:
    """The newest X-Vault-Index seen, shared by every client of one Environment (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._header: str | None = None
        self._at: tuple[str, int] | None = None

    @property
    def header(self) -> str | None:
        with self._lock:
            return self._header

    @property
    def value(self) -> int | None:
        with self._lock:
            return self._at[1] if self._at else None

    def seen(self, header: str | None) -> None:
        """Record an answer's index when it is newer than the one kept (or from another cluster: a new one)."""
        found = decode(header) if header else None
        if found is None:
            return
        with self._lock:
            if self._at is None or found[0] != self._at[0] or found[1] > self._at[1]:
                self._header, self._at = header, found


class IndexedSession(requests.Session):
    """A requests session that sends the index with every request and records it from every answer."""

    def __init__(self, index: ConsistencyIndex, upgrade_wait: float = UPGRADE_WAIT) -> None:
        super().__init__()
        self.index = index
        self.upgrade_wait = upgrade_wait

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        deadline = time.monotonic() + self.upgrade_wait
        while True:
            sent = self.index.header
            if sent:
                headers[INDEX_HEADER] = sent
                headers[INCONSISTENT_HEADER] = FORWARD
            response = super().request(method, url, *args, **{**kwargs, "headers": headers})
            self.index.seen(response.headers.get(INDEX_HEADER))
            if response.status_code == 400 and UPGRADING in response.text and time.monotonic() < deadline:
                time.sleep(UPGRADE_POLL)
                continue
            return response
