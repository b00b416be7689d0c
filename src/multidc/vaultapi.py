"""Talking to servers through the Vault HTTP API (hvac), with the environment's CA."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import hvac
import requests

T = TypeVar("T")
# Connection-level failures and server-side refusals that mean "not ready yet" while a server starts.
TRANSIENT = (requests.exceptions.RequestException, hvac.exceptions.VaultError, OSError)


def client(url: str, ca_cert: str | None, token: str | None = None, timeout: float = 5.0) -> hvac.Client:
    """A client that never follows redirects.

    A standby that cannot forward a request answers 307 with the leader's api_addr, a VIP inside the environment;
    from the host that address is not routed into the environment, so following it would send packets to the host's
    own network. The 307 comes back to the caller instead (hvac returns non-200 answers as Response objects).
    """
    verify: str | bool = ca_cert if ca_cert else False
    return hvac.Client(url=url, token=token, verify=verify, timeout=timeout, allow_redirects=False)


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


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T:
    """Call probe until it returns something other than None (transient errors count as 'not yet')."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            result = probe()
            if result is not None:
                return result
        except TRANSIENT as exc:
            last = f" (last error: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{last}")
        time.sleep(interval)
