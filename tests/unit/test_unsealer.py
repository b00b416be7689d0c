"""The kv-mode unsealer is standard library only; it reads the secret where bootstrap stores the keys."""

from __future__ import annotations

import subprocess
import sys

from multidc import bootstrap, unsealer


def test_it_reads_where_the_keys_are_stored() -> None:
    expected = f"/v1/secret/data/{bootstrap.UNSEAL_KEYS_PATH}"
    assert expected == unsealer.UNSEAL_KEYS


def test_helper_processes_load_no_third_party_library() -> None:
    code = (
        "import sys, multidc.unsealer, multidc.providers.netns.forwarder, multidc.providers.netns.delayer\n"
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(run.stdout.split())
    assert loaded & {"hvac", "requests", "urllib3", "pydantic", "rich", "yaml", "pyroute2", "cryptography"} == set()
