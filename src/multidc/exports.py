"""What `multidc env` prints, recorded when `up` succeeds, so that `eval "$(multidc env)"` reads two small files and
imports nothing but the standard library (no plan, no topology validation, no HTTP client).

The record names the environment it was made for (provider, creation time, port base, topology, as the state file
has them); when the state file says otherwise (another `up`, a changed topology), the record is not used and the
caller takes the long way (the provider's own answer).
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
    write_private(paths.exports, json.dumps({"for": _identity(state), "default": default, "places": values}))


def recorded(paths: EnvPaths, dc: str | None) -> dict[str, str] | None:
    """The export lines of `dc` (None: the default DC) when a record for the environment as it is now holds them."""
    try:
        state = json.loads(paths.state.read_text())
        saved = json.loads(paths.exports.read_text())
        if saved["for"] != _identity(state):
            return None
        found = saved["places"].get(dc or saved["default"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return found if isinstance(found, dict) else None
