"""What `multidc env` prints, recorded when `up` succeeds, so that `eval "$(multidc env)"` reads a few small files and
imports nothing but the standard library (no plan, no topology validation, no HTTP client).

The record names the environment it was made for (provider, creation time, port base, topology, as the state file
has them); when the state file says otherwise (another `up`, a changed topology), the record is not used and the
caller takes the long way (the provider's own answer). Tokens are not copied: the record names the secret file that
holds each, read again at every `env`, so a token that changes later is never printed stale.
"""

from __future__ import annotations

import json
from typing import Any

from .paths import EnvPaths, write_private


def _identity(state: dict[str, Any]) -> dict[str, Any]:
    return {k: state.get(k) for k in ("provider", "created_at", "port_base", "topology")}


def record(paths: EnvPaths, values: dict[str, dict[str, str]], default: str) -> None:
    """Record each place's export lines (DCs and `kms`) and the default DC, for the state the file has now."""
    state = json.loads(paths.state.read_text())
    held: dict[str, str] = {}  # a secret's value -> the file that holds it
    for path in sorted(paths.secrets.iterdir()) if paths.secrets.is_dir() else []:
        if path.is_file() and path != paths.exports:
            held.setdefault(path.read_text().strip(), path.name)
    places: dict[str, dict[str, Any]] = {}
    for place, lines in values.items():
        kept: dict[str, Any] = {}
        for key, value in lines.items():
            secret = held.get(value) if key.endswith("_TOKEN") and value else None
            kept[key] = {"secret": secret} if secret else value
        places[place] = kept
    write_private(paths.exports, json.dumps({"for": _identity(state), "default": default, "places": places}))


def recorded(paths: EnvPaths, dc: str | None) -> dict[str, str] | None:
    """The export lines of `dc` (None: the default DC) when a record for the environment as it is now holds them."""
    try:
        state = json.loads(paths.state.read_text())
        saved = json.loads(paths.exports.read_text())
        if saved["for"] != _identity(state):
            return None
        found = saved["places"].get(dc or saved["default"])
        if not isinstance(found, dict):
            return None
        return {key: _value(paths, value) for key, value in found.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _value(paths: EnvPaths, value: Any) -> str:
    if not isinstance(value, dict):
        return str(value)
    name = str(value["secret"])
    if "/" in name or name.startswith("."):
        raise ValueError(f"not a secret's name: {name!r}")
    return paths.secret(name).read_text().strip()
