"""Which state directory owns an environment's namespaces. Namespaces are host-wide, state directories are not: two
jobs with different MULTIDC_STATE_DIR and the same --name would otherwise take each other's namespaces for leftovers.
`up` records its environment directory in /run/multidc/owners/<name> before it makes a namespace; `down` and
leftover removal refuse namespaces whose recorded owner is another directory that still holds that environment."""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import PrerequisiteError
from ...locks import HOST_DIR
from ...paths import EnvPaths, make_private_dir

OWNERS = HOST_DIR / "owners"


def record(paths: EnvPaths) -> None:
    make_private_dir(OWNERS)
    tmp = OWNERS / f".{paths.root.name}.{os.getpid()}"
    tmp.write_text(str(paths.root))
    os.replace(tmp, OWNERS / paths.root.name)


def owned() -> list[Path]:
    """Every environment directory that owns namespaces on this host, whatever its state root."""
    try:
        records = list(OWNERS.iterdir())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []
    return [found for r in records if not r.name.startswith(".") and (found := owner(r.name)) is not None]


def owner(env: str) -> Path | None:
    try:
        return Path((OWNERS / env).read_text().strip())
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None  # unreadable: not root, so no namespace of anyone's is ours to touch either


def foreign(paths: EnvPaths) -> Path | None:
    """The other environment directory that owns this name's namespaces and still holds it, if any."""
    other = owner(paths.root.name)
    if other is None or other == paths.root or not (other / "state.json").exists():
        return None
    return other


def check(paths: EnvPaths) -> None:
    """Refuse to touch environment `name`'s namespaces when another live state directory owns them."""
    other = foreign(paths)
    if other is None:
        return
    raise PrerequisiteError(
        f"environment {paths.root.name!r} on this host belongs to the state directory {other.parent}, not "
        f"{paths.root.parent}; use another --name, or MULTIDC_STATE_DIR={other.parent} to manage it"
    )


def forget(paths: EnvPaths) -> None:
    """Drop the record after `down` (check() has already refused one that another live directory holds)."""
    (OWNERS / paths.root.name).unlink(missing_ok=True)
