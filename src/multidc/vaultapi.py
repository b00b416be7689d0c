"""Talking to servers through the Vault HTTP API (hvac), with the environment's CA."""

from __future__ import annotations

from typing import Any

import hvac

from .consistency import ConsistencyIndex, IndexedSession
from .pipeline import TRANSIENT, wait_until

__all__ = ["TRANSIENT", "client", "get", "wait_until"]


def client(
    url: str,
    ca_cert: str | None,
    token: str | None = None,
    timeout: float = 5.0,
    index: ConsistencyIndex | None = None,
) -> hvac.Client:
    """A client that never follows redirects; with `index`, one that reads its own writes through any DC.

    A standby that cannot forward a request answers 307 with the leader's api_addr, a VIP inside the environment;
    from the host that address is not routed into the environment, so following it would send packets to the host's
    own network. The 307 comes back to the caller instead (hvac returns non-200 answers as Response objects).
    """
    verify: str | bool = ca_cert if ca_cert else False
    session = None
    if index is not None:
        session = IndexedSession(index)
        session.verify = verify  # hvac sets it only on a session it makes itself
    return hvac.Client(url=url, token=token, verify=verify, timeout=timeout, allow_redirects=False, session=session)


def get(c: hvac.Client, path: str) -> tuple[int, dict[str, Any]]:
    """GET a path without raising on status codes: (status, JSON body or {})."""
    response = c.adapter.request("GET", path, raise_exception=False)
    if isinstance(response, dict):  # hvac's JSON adapter decodes 200 answers itself
        return 200, response
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}


def raw(c: hvac.Client, method: str, path: str, data: bytes | None = None, json: Any = None) -> Any:
    """A request whose answer is not JSON (a Raft snapshot's bytes): the requests Response, never raising on status,
    never following redirects."""
    adapter = c.adapter
    return adapter.session.request(
        method,
        adapter.base_uri + path,
        headers={"X-Vault-Token": c.token or ""},
        data=data,
        json=json,
        verify=adapter._kwargs.get("verify", True),
        timeout=adapter._kwargs.get("timeout", 30),
        allow_redirects=False,
    )
