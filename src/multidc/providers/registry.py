"""The one place a provider's name is read: which provider made an environment (its state file says), and removing
an environment with that provider."""

from __future__ import annotations

from pathlib import Path

from ..paths import env_paths
from ..state import load

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
