"""The seed's own path, live: only where docker (with a running daemon), kind, kubectl and helm all work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _why_not() -> str | None:
    missing = [t for t in ("docker", "kind", "kubectl", "helm") if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} on PATH for a live kind run"
    daemon = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, check=False
    )
    if daemon.returncode != 0:
        return f"the docker daemon is not reachable ({(daemon.stderr.strip().splitlines() or ['?'])[-1][:120]})"
    return None


@pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
def test_kind_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "MULTIDC_STATE_DIR": str(tmp_path)}
    # kind clusters are named after the DCs and are host-wide: unique, recognisable names, never a user's clusters.
    tag = f"mdct{os.getpid() % 100000}"
    dcs = [f"{tag}a", f"{tag}b", f"{tag}c"]
    topology = tmp_path / "kind.yaml"
    topology.write_text(f"datacenters: [{', '.join(dcs)}]\n")
    before = set(subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, check=True).stdout.split())
    assert not set(dcs) & before, f"clusters {dcs} already exist; refusing to touch them"

    def multidc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "multidc", *args, "--name", tag],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
            check=False,
        )

    try:
        up = multidc("up", "--provider", "kind", "-f", str(topology))
        assert up.returncode == 0, up.stderr
        status = multidc("status")
        assert status.returncode == 0, status.stdout + status.stderr
    finally:
        down = multidc("down", "--provider", "kind")
        assert down.returncode == 0, down.stderr
    clusters = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, check=True).stdout.split()
    assert not set(dcs) & set(clusters)
    assert before <= set(clusters), "a cluster that existed before the test is gone"
