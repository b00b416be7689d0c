"""Where an environment keeps its files: one directory per environment, readable only by its owner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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

    def unsealer_spec(self, dc: str) -> Path:
        return self.secrets / f"unsealer-{dc}.json"

    def unsealer_log(self, dc: str) -> Path:
        return self.root / "nodes" / dc / "unsealer.log"

    def delayer_spec(self, name: str) -> Path:
        return self.root / "delays" / f"{name}.json"

    def delayer_log(self, name: str) -> Path:
        return self.root / "delays" / f"{name}.log"

    def secret(self, name: str) -> Path:
        return self.secrets / name


def env_paths(name: str, root: Path | None = None) -> EnvPaths:
    return EnvPaths((root or state_root()) / name)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), in a directory only its owner can enter (0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
