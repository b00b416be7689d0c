"""Host ports: which ones are free, which other environments claim, and the block an environment gets."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

from ...errors import PrerequisiteError
from ...names import is_env_name
from ...paths import EnvPaths
from ...state import StateError, load
from .host import LINUX, Host
from .plan import Plan

PORT_STEP = 10


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def claimed_ports(root: Path, except_env: str, elsewhere: list[Path] | None = None) -> dict[int, str]:
    """Host ports other environments' state files claim (their forwarder may be down, the claim still stands): those
    in this state root, and those of every directory that owns namespaces on this host (another MULTIDC_STATE_DIR)."""
    claims: dict[int, str] = {}
    entries = list(root.iterdir()) if root.is_dir() else []
    entries += [d for d in elsewhere or [] if d.parent != root]
    for entry in entries:
        if (entry.parent == root and entry.name == except_env) or not is_env_name(entry.name):
            continue
        try:
            st = load(EnvPaths(entry))
        except (StateError, OSError):
            continue
        if st is None:
            continue
        for port in st.host_ports():
            claims[port] = st.env
    return claims


def choose_port_base(plan_for: Callable[[int], Plan], explicit: bool, first: int, host: Host | None = None) -> Plan:
    """A plan whose host ports are free: an explicit base must be free; the default moves to the next free block."""
    base = first
    root = plan_for(first).paths.root.parent
    for _ in range(200):
        plan = plan_for(base)
        ports = [plan.kms.host_port, *(n.host_port for n in plan.nodes)]
        claims = claimed_ports(root, plan.env, (host or LINUX).owned())
        taken = [p for p in ports if p in claims or not port_free(p)]
        if not taken:
            return plan
        if explicit:
            port = taken[0]
            who = f"environment {claims[port]!r}" if port in claims else "another process"
            raise PrerequisiteError(
                f"host port 127.0.0.1:{port} is in use by {who}; set another host_port_base in the topology"
            )
        base += PORT_STEP
    raise PrerequisiteError(f"no free block of host ports from {first} upward; set host_port_base in the topology")
