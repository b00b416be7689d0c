"""The kv-mode unsealer of one DC (Bank-Vaults' `bank-vaults unseal` with `unsealConfig.vault`, as a process).

Run as `python -m multidc.unsealer SPEC.json` inside the DC's namespace. Every interval it asks its node whether it is
sealed; when it is, it reads the unseal keys from the central KMS (KV v2, secret/data/vault-unseal-keys) with a token
that may read only that secret, and submits them. So a restarted node is unsealed without help, as in the seed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from . import bootstrap
from .vaultapi import TRANSIENT, client, get

RENEW_EVERY = 600.0


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} unsealer: {message}", flush=True)


def run(spec: dict[str, str], interval: float) -> None:
    ca = spec.get("ca_cert") or None
    # Generous: under retry_join an unseal call returns only once the join it completes is done; giving up early
    # would send the keys again while the first call still holds the node's state lock.
    node = client(spec["node_url"], ca, timeout=30)
    kms = client(spec["kms_url"], ca, token=spec["kms_token"], timeout=3)
    renewed = 0.0
    was = ""
    while True:
        try:
            code, status = get(node, "/v1/sys/seal-status")
            state = "sealed" if status.get("sealed", True) else "unsealed"
            if code == 200 and state == "sealed" and status.get("initialized"):
                keys = bootstrap.read_unseal_keys(kms)
                if bootstrap.unseal(node, keys):
                    log("node was sealed: unsealed with the keys from the KMS")
                    state = "unsealed"
            if state != was:
                log(f"node is {state}")
                was = state
            if time.monotonic() - renewed > RENEW_EVERY:
                kms.auth.token.renew_self()
                renewed = time.monotonic()
        except TRANSIENT as exc:
            text = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            if was != f"error {text}":
                log(f"waiting: {text}")
                was = f"error {text}"
        time.sleep(interval)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    log(f"watching {spec['node_url']}, keys from {spec['kms_url']}")
    run(spec, float(spec.get("interval", 0.25)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
