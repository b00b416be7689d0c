"""The kv-mode unsealers of an environment (Bank-Vaults' `bank-vaults unseal` with `unsealConfig.vault`): one process,
one thread per DC, each thread inside its DC's network namespace, so it reaches its node and the KMS from that DC, as
the operator's sidecar does (a DC cut off from the KMS cannot fetch its keys).

Run as `python -m multidc.unsealer SPEC.json`. Every interval each thread asks its node whether it is sealed; when it
is, it reads the unseal keys from the central KMS (KV v2, secret/data/vault-unseal-keys) with a token that may read
only that secret, and submits them. So a restarted node is unsealed without help, as in the seed.

Standard library only (http.client, ssl): ~18 MB for every DC together, where one hvac-based process per DC took ~43 MB
each. Each thread writes its own log (the DC's `unsealer.log`); a thread that fails unexpectedly ends the process, so
`up` starts it again.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .providers.netns.setns import enter

RENEW_EVERY = 600.0
UNSEAL_KEYS = "/v1/secret/data/vault-unseal-keys"  # bootstrap.UNSEAL_KEYS_PATH on the KMS's secret/ mount
TRANSIENT = (OSError, http.client.HTTPException, ValueError)


class Answer(Exception):
    """A server answered, but not with what was asked for (e.g. 403, or 503 from a sealed KMS)."""


class Server:
    """One HTTP(S) server, one kept-alive connection, reopened after any failure."""

    def __init__(self, url: str, context: ssl.SSLContext | None, timeout: float, token: str | None = None) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        self.context = context if parts.scheme == "https" else None
        self.timeout = timeout
        self.token = token
        self.conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        if self.conn is None:
            if self.context is not None:
                self.conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self.context
                )
            else:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["X-Vault-Token"] = self.token
        try:
            self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            response = self.conn.getresponse()
            raw = response.read()
        except TRANSIENT:
            self.conn.close()
            self.conn = None
            raise
        data = json.loads(raw) if raw.strip() else {}
        return response.status, data if isinstance(data, dict) else {}


def read_unseal_keys(kms: Server) -> list[str]:
    code, body = kms.call("GET", UNSEAL_KEYS)
    if code != 200:
        raise Answer(f"the KMS answered {code} for the unseal keys: {'; '.join(body.get('errors') or [])}")
    data = body["data"]["data"]
    return [data[k] for k in sorted(data) if k.startswith("vault-unseal-")]


def unseal(node: Server, keys: list[str]) -> bool:
    """Submit keys until the node reports unsealed; True when it is."""
    for key in keys:
        code, state = node.call("PUT", "/v1/sys/unseal", {"key": key})
        if code != 200:
            raise Answer(f"the node answered {code} to an unseal key")
        if not state.get("sealed", True):
            return True
    return False


def watch(spec: dict[str, Any], dc: dict[str, str], context: ssl.SSLContext | None, interval: float) -> None:
    """One DC's unsealer, in that DC's network namespace; never returns."""
    enter(dc["namespace"])  # this thread only: each DC's thread lives in its own DC's network
    with open(dc["log"], "a", buffering=1) as out:

        def log(message: str) -> None:
            out.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} unsealer: {message}\n")

        log(f"watching {dc['node_url']}, keys from {spec['kms_url']}")
        # Generous: under retry_join an unseal call returns only once the join it completes is done; giving up early
        # would send the keys again while the first call still holds the node's state lock.
        node = Server(dc["node_url"], context, timeout=30)
        kms = Server(spec["kms_url"], context, timeout=3, token=spec["kms_token"])
        renewed = 0.0
        was = ""
        while True:
            try:
                code, status = node.call("GET", "/v1/sys/seal-status")
                state = "sealed" if status.get("sealed", True) else "unsealed"
                sealed = code == 200 and state == "sealed" and status.get("initialized")
                if sealed and unseal(node, read_unseal_keys(kms)):
                    log("node was sealed: unsealed with the keys from the KMS")
                    state = "unsealed"
                if state != was:
                    log(f"node is {state}")
                    was = state
                if time.monotonic() - renewed > RENEW_EVERY:
                    kms.call("POST", "/v1/auth/token/renew-self", {})
                    renewed = time.monotonic()
            except (*TRANSIENT, Answer, KeyError, TypeError) as exc:
                text = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                if was != f"error {text}":
                    log(f"waiting: {text}")
                    was = f"error {text}"
            time.sleep(interval)


def _guarded(target: Any, *args: Any) -> None:
    try:
        target(*args)
    except BaseException:  # noqa: BLE001 - any thread's end is the process's: `up` starts it again
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    context = ssl.create_default_context(cafile=spec["ca_cert"]) if spec.get("ca_cert") else None
    interval = float(spec.get("interval", 0.25))
    threading.stack_size(512 * 1024)
    threads = [
        threading.Thread(target=_guarded, args=(watch, spec, dc, context, interval), name=dc["name"], daemon=True)
        for dc in spec["datacenters"]
    ]
    for thread in threads:
        thread.start()
    print(f"unsealer: {len(threads)} datacenter(s): {', '.join(t.name for t in threads)}", flush=True)
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
