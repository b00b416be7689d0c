"""The one place a provider's name is read: the providers by name, and which one made an existing environment (its
state file says)."""

from __future__ import annotations

from pathlib import Path

from ..errors import TopologyError
from ..names import is_env_name
from ..paths import env_paths, finish_removals, state_root
from ..state import StateError, load
from .base import Capabilities, Provider

DEFAULT = "netns"
NAMES = ("netns", "docker", "kind", "kube")
PROVIDERS: dict[str, Provider] = {}  # filled on first use; tests put recording providers here


def get(name: str) -> Provider:
    """The provider called `name` (netns, kind, kube)."""
    if name not in PROVIDERS and name in NAMES:
        PROVIDERS.setdefault(name, _builtin(name))
    try:
        return PROVIDERS[name]
    except KeyError:
        raise TopologyError(f"--provider: unknown {name!r}; choose one of: {', '.join(NAMES)}") from None


def _builtin(name: str) -> Provider:
    if name == "netns":
        from .netns.provider import NetnsProvider

        return NetnsProvider()
    if name == "docker":
        from .docker.provider import DockerProvider

        return DockerProvider()
    from .kube.manifests import KIND, KUBE
    from .kube.provider import KubeProvider

    return KubeProvider(KIND if name == "kind" else KUBE)


def capabilities(env: str) -> Capabilities:
    """What the provider of environment `env` can do (fault kinds, day-2 operations, ...), asked before anything."""
    return of(env).capabilities()


def recorded(env: str, root: Path | None = None) -> str | None:
    """The name of the provider that made environment `env` (None when there is no state file)."""
    try:
        st = load(env_paths(env, root))
    except StateError:
        return None  # unreadable: what is left is found by the providers without it (netns: its namespaces)
    return st.provider if st is not None else None


def of(env: str, asked: str | None = None) -> Provider:
    """The provider of environment `env`: the one that made it, else the one asked for, else netns (leftovers of a
    crashed netns `up` have no state file). Asking for another one than made it is refused."""
    made = recorded(env)
    if made is not None and asked is not None and asked != made:
        raise TopologyError(
            f"--provider: environment {env!r} was made by the {made} provider, not {asked}; leave --provider out, or "
            f"`multidc down --name {env}` first"
        )
    return get(made or asked or DEFAULT)


def remover(env: str, asked: str | None = None) -> Provider:
    """The provider that removes `env`: the one that made it (`of`); without a state file, the one that finds what
    is left of it on the host (docker: its labels), else netns."""
    if asked is None and recorded(env) is None:
        for name in NAMES:
            if name != DEFAULT and env in get(name).environments():
                return get(name)
    return of(env, asked)


def environments(root: Path | None = None) -> list[str]:
    """Every environment on this host: with a state directory (complete or not), or found by a provider without one
    (netns: namespaces). Finishes the removals an interrupted `down` left behind."""
    base = root or state_root()
    finish_removals(base)
    found: set[str] = set()
    if base.is_dir():
        found |= {d.name for d in base.iterdir() if is_env_name(d.name) and d.is_dir() and not d.is_symlink()}
    for name in NAMES:
        found |= set(get(name).environments())
    return sorted(found)
