"""The one place a provider's name is read: which provider made an environment (its state file says), and removing
an environment with that provider."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import topology
from ..configuration import Configuration
from ..health import Health
from ..paths import env_paths
from ..state import load, read_secret

NAMES = ("netns", "kind", "kube")
DEFAULT = "netns"


def recorded(env: str, root: Path | None = None) -> str:
    """The provider that made environment `env` (netns when there is no state file: leftovers are namespaces)."""
    st = load(env_paths(env, root))
    return st.provider if st is not None else DEFAULT


def down(env: str, provider: str | None = None, contexts: list[str] | None = None) -> str:
    """Remove environment `env` with the provider that made it (or the one named); returns one line for people."""
    chosen = provider or recorded(env)
    if chosen == "netns":
        from .netns import provider as netns

        result = netns.down(env)
        what = "removed" if (result.processes or result.namespaces or result.removed_dir) else "nothing to remove"
        return f"{env}: {what} ({result.processes} process(es), {len(result.namespaces)} namespace(s))"
    from .kube import frontend

    removed = frontend.down(env, chosen, contexts)
    return f"{env}: removed {', '.join(removed) or 'nothing'}"


@dataclass
class Checked:
    """Health now, and what status needs beside it: the configuration to compare, how to reach the servers."""

    health: Health
    configuration: Configuration
    ca: str | None
    token: str | None


def check(env: str) -> Checked:
    """Check environment `env`'s health with the provider that made it."""
    paths = env_paths(env)
    token = read_secret(paths, "root-token")
    if recorded(env) == "netns":
        from .. import health
        from ..api import existing_plan

        plan = existing_plan(env)
        ca = str(plan.paths.ca_cert) if plan.topology.tls else None
        return Checked(health.check(plan, token), plan.topology.configuration, ca, token)
    from .kube import frontend

    result, _ = frontend.status(env)
    st = load(paths)
    assert st is not None
    config = topology.parse(st.topology, str(paths.state)).configuration
    return Checked(result, config, str(paths.ca_cert) if paths.ca_cert.exists() else None, token)
