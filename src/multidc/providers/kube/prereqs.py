"""The tools the Kubernetes providers need, with the version found and how to get each one that is missing."""

from __future__ import annotations

import shutil

from ...errors import PrerequisiteError
from ...runner import Runner
from .manifests import Flavour

TOOLS: dict[str, tuple[list[str], str]] = {
    "docker": (["docker", "version", "--format", "{{.Server.Version}}"], "install Docker Engine and start it"),
    "kind": (["kind", "version"], "go install sigs.k8s.io/kind@latest, or a release binary from kind's releases"),
    "kubectl": (["kubectl", "version", "--client"], "install kubectl (Kubernetes' install guide)"),
    "helm": (["helm", "version", "--short"], "install Helm 3 (helm.sh's install guide)"),
}


def check(runner: Runner, flavour: Flavour) -> dict[str, str]:
    """Versions of every needed tool; raise one PrerequisiteError listing every missing or broken one."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for tool in flavour.tools:
        argv, how = TOOLS[tool]
        if shutil.which(tool) is None:
            missing.append(f"{tool}: not found on PATH; {how}")
            continue
        done = runner.run(argv, check=False, timeout=30)
        if done.returncode != 0:
            missing.append(f"{tool}: found but `{done.command}` failed ({done.reason()}); {how}")
            continue
        found[tool] = (done.stdout.strip().splitlines() or ["?"])[0][:80]
    if missing:
        have = ", ".join(f"{k} {v}" for k, v in found.items())
        raise PrerequisiteError(
            f"--provider {flavour.name} needs {', '.join(flavour.tools)}; "
            + "; ".join(missing)
            + (f" (found: {have})" if have else "")
        )
    return found
