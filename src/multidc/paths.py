"""Where an environment keeps its files: one directory per environment, readable only by its owner.

Every environment directory is `<state root>/<name>` with a checked name (a DNS label: no '/', '.' or '..'), so no
name can reach outside the state root. The root and every directory above it must be safe from other users (owned by
the invoking user or root, writable by nobody else unless sticky like /tmp): multidc runs as root and executes what
its state file names. Removal renames an environment's directory into `<root>/.removing/` first, so an interrupted
`down` leaves a tombstone that the next `down --all` (or `up`) finishes, never a half directory that looks alive.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import PrerequisiteError, TopologyError
from .names import check_env_name

TOMBSTONES = ".removing"


def state_root() -> Path:
    """$MULTIDC_STATE_DIR, else $XDG_STATE_HOME/multidc, else ~/.local/state/multidc."""
    explicit = os.environ.get("MULTIDC_STATE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "multidc"


@dataclass(frozen=True)
class NodePaths:
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "config.json"

    @property
    def cert(self) -> Path:
        return self.dir / "tls.crt"

    @property
    def key(self) -> Path:
        return self.dir / "tls.key"

    @property
    def data(self) -> Path:
        return self.dir / "raft"

    @property
    def log(self) -> Path:
        return self.dir / "server.log"


@dataclass(frozen=True)
class EnvPaths:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "secrets" / "ca.key"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def exports(self) -> Path:
        return self.root / "secrets" / "exports.json"

    @property
    def forwarder_log(self) -> Path:
        return self.root / "forwarder.log"

    @property
    def forwarder_spec(self) -> Path:
        return self.root / "forwarder.json"

    def node(self, dc: str) -> NodePaths:
        return NodePaths(self.root / "nodes" / dc)

    @property
    def kms(self) -> NodePaths:
        return NodePaths(self.root / "kms")

    @property
    def unsealers_spec(self) -> Path:
        return self.secrets / "unsealers.json"

    @property
    def unsealers_log(self) -> Path:
        return self.root / "unsealers.log"

    def unsealer_log(self, dc: str) -> Path:
        return self.root / "nodes" / dc / "unsealer.log"

    @property
    def delayers_spec(self) -> Path:
        return self.root / "delays" / "delayer.json"

    @property
    def delayers_log(self) -> Path:
        return self.root / "delays" / "delayer.log"

    def secret(self, name: str) -> Path:
        return self.secrets / name


def env_paths(name: str, root: Path | None = None) -> EnvPaths:
    """The paths of environment `name`; a name that is not a valid environment name is refused (exit 2) before any
    path is built from it, and a state root other users could tamper with is refused too."""
    try:
        check_env_name(name)
    except ValueError as exc:
        raise TopologyError(f"--name: {exc}") from None
    base = root or state_root()
    check_safe(base / name)
    return EnvPaths(base / name)


def _unsafe(path: Path, st: os.stat_result, me: int, leaf: bool) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link; multidc keeps secrets there and needs a real directory"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a directory"
    if st.st_uid not in (me, 0) or (leaf and st.st_uid != me):
        return f"{path} is owned by uid {st.st_uid}, not by you (uid {me}); another user could replace its files"
    # The state root and the environment's directory: nobody else may write. Above them: nobody but their owner and
    # group (a user-private group's 0775 home is common), unless sticky like /tmp.
    writable = st.st_mode & ((stat.S_IWGRP | stat.S_IWOTH) if leaf else stat.S_IWOTH)
    if writable and (leaf or not st.st_mode & stat.S_ISVTX):
        mode = stat.S_IMODE(st.st_mode)
        return f"{path} is writable by others (mode {mode:04o}); another user could replace its files"
    return None


def check_safe(env_dir: Path) -> None:
    """Refuse (PrerequisiteError, one line) an environment directory, state root or any directory above them that
    another user could write to. Checks what exists; what multidc creates later it creates private."""
    me = os.geteuid()
    env_dir = Path(os.path.abspath(env_dir))
    chain = [env_dir, *env_dir.parents]
    for i, path in enumerate(chain):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise PrerequisiteError(f"cannot inspect {path}: {exc.strerror}") from None
        leaf = i <= 1  # the environment directory and the state root must be the user's own
        if not leaf and stat.S_ISLNK(st.st_mode):
            st = os.stat(path)  # a link above the state root (e.g. /var/run -> /run) is fine if its target is
        problem = _unsafe(path, st, me, leaf)
        if problem:
            where = "MULTIDC_STATE_DIR" if os.environ.get("MULTIDC_STATE_DIR") else "the state directory"
            raise PrerequisiteError(f"{problem}; fix it (chmod 700, chown) or point {where} at a directory of your own")


def make_private_dir(path: Path) -> None:
    """Create a directory (and its parents) only its owner can enter, and check the result is safe."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    check_safe(path)


def retire_env_dir(paths: EnvPaths) -> Path | None:
    """Rename an environment's directory to a tombstone in `<root>/.removing/` (one atomic step: the environment is
    no longer there) and return the tombstone; None if there was no directory. The directory must lie directly inside
    the state root, proven from the real paths, not the name."""
    root = paths.root.parent
    if not os.path.lexists(paths.root):
        return None
    real_root = Path(os.path.realpath(root))
    if Path(os.path.realpath(paths.root)).parent != real_root or os.path.islink(paths.root):
        raise PrerequisiteError(f"refusing to remove {paths.root}: it does not lie inside the state root {root}")
    tombs = root / TOMBSTONES
    make_private_dir(tombs)
    tomb = tombs / f"{paths.root.name}.{os.getpid()}.{time.time_ns()}"
    os.rename(paths.root, tomb)
    return tomb


def remove_env_dir(paths: EnvPaths) -> bool:
    """Remove an environment's directory restartably: retire it, then delete every tombstone. True if it existed."""
    tomb = retire_env_dir(paths)
    finish_removals(paths.root.parent)
    return tomb is not None


def _remover_alive(tombstone: str) -> bool:
    """Tombstones are named NAME.PID.NANOS: is the process that made it still running?"""
    try:
        pid = int(tombstone.split(".")[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _rmdir_if_empty(path: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: another removal is under way
        path.rmdir()


def finish_removals(root: Path | None = None) -> list[str]:
    """Delete the tombstones an interrupted removal left; returns the environment names they belonged to."""
    tombs = (root or state_root()) / TOMBSTONES
    if not tombs.is_dir() or tombs.is_symlink():
        return []
    done = []
    for entry in tombs.iterdir():
        if _remover_alive(entry.name):
            continue  # a `down` is deleting it right now
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        done.append(entry.name.split(".", 1)[0])
    _rmdir_if_empty(tombs)
    return sorted(set(done))


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), in a directory only its owner can enter (0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
