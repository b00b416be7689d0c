"""Sending a Raft snapshot to a server and following it in, shared by `snapshot restore` and its rehearsal on a
scratch server: the keys file beside a snapshot, a token lookup, the send, and OpenBao's refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import MultidcError, ProviderError
from ...vaultapi import client, get, raw

KEYS_SUFFIX = ".keys"
RESTORE_TIMEOUT = 60.0
LOOKUP = "/v1/auth/token/lookup-self"


def keys_path(path: Path) -> Path:
    return path.with_name(path.name + KEYS_SUFFIX)


class Refused(MultidcError):
    """OpenBao refused the snapshot as sent: its data did not change."""


def said(response: Any) -> str:
    """What OpenBao said in a refusal, on one line."""
    try:
        said = "; ".join(response.json().get("errors") or [])
    except ValueError:
        said = response.text
    return f"HTTP {response.status_code}: {' '.join(said.split())[:200]}"


def lookup(url: str, ca: str | None, token: str) -> str | None:
    """Whether `token` is a token of the data the server at `url` holds: "root", "other", "unknown" (403), or None (no
    answer yet)."""
    code, body = get(client(url, ca, token, timeout=3), LOOKUP)
    if code == 403:
        return "unknown"
    if code != 200:
        return None
    return "root" if "root" in (body.get("data") or {}).get("policies", []) else "other"


def send(url: str, ca: str | None, token: str, data: bytes, force: bool) -> str:
    """Send a snapshot to the server at `url` with a root token; on acceptance, return a token made just before, which
    no snapshot can hold: unknown to the server once the snapshot's data is in place. OpenBao answers at once and
    applies the snapshot in the background (measured: ~5.5 s without an answer, then the new data)."""
    c = client(url, ca, token, timeout=120)
    made = raw(c, "POST", "/v1/auth/token/create", json={"policies": ["default"], "ttl": "15m"})
    if made.status_code != 200:
        raise ProviderError(f"{url} would not make a token to follow the restore: {said(made)}")
    marker = str(made.json()["auth"]["client_token"])
    response = raw(c, "POST", "/v1/sys/storage/raft/snapshot" + ("-force" if force else ""), data=data)
    if response.status_code not in (200, 204):
        raw(client(url, ca, marker), "POST", "/v1/auth/token/revoke-self")
        raise Refused(said(response))
    return marker
