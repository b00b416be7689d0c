"""A recording Host for the netns provider: namespaces, processes, routes and devices kept in memory, so the pipeline
and the faults run without root (as the kind tests run with a RecordingRunner)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

from multidc.binaries import ServerBinary
from multidc.paths import EnvPaths
from multidc.providers.netns.plan import Node, Plan, make_plan, namespace_prefix
from multidc.topology import Topology


class FakeHost:
    has_tun = True

    def __init__(self, exits: dict[str, str] | None = None) -> None:
        self.exits = exits or {}  # a server whose config path holds this key exits at once, writing the text to its log
        self.calls: list[str] = []
        self.namespaces: set[str] = set()
        self.running: dict[int, tuple[tuple[str, ...], str | None]] = {}
        self.routes: set[tuple[str, str]] = set()
        self.owners: dict[str, Path] = {}
        self.next_pid = 4000

    def check(self) -> None:
        self.calls.append("check")

    def create_site(
        self, plan: Plan, nodes: Sequence[Node] | None = None, adopt: Mapping[str, int] | None = None
    ) -> None:
        self.calls.append("create_site")
        made = [plan.kms, *plan.nodes] if nodes is None else nodes
        self.namespaces |= {plan.site_namespace, *(node.namespace for node in made)}

    def add_nodes(self, plan: Plan, nodes: Sequence[Node]) -> None:
        for node in nodes:
            self.calls.append(f"add_node {node.namespace} {node.ifname} {node.address} {node.vip}")
            assert node.namespace not in self.namespaces
            self.namespaces.add(node.namespace)

    def remove_node(self, plan: Plan, node: Node) -> list[str]:
        self.calls.append(f"remove_node {node.ifname} {node.namespace}")
        self.namespaces.discard(node.namespace)
        return []

    def forget_neighbours(self, names: list[str], addresses: list[str]) -> None:
        self.calls.append(f"forget {' '.join(addresses)} in {' '.join(names)}")

    def namespace_exists(self, name: str) -> bool:
        return name in self.namespaces

    def namespaces_of(self, env: str) -> list[str]:
        return sorted(n for n in self.namespaces if n.startswith(namespace_prefix(env)))

    def environments(self) -> list[str]:
        return sorted({n.split(".")[1] for n in self.namespaces})

    def remove_namespaces(self, names: list[str]) -> list[str]:
        self.calls.append(f"remove {' '.join(sorted(names))}")
        self.namespaces -= set(names)
        return []

    def spawn(
        self, argv: Sequence[str], namespace: str | None, log: Path, pass_fds: tuple[int, ...] = (), apart: bool = False
    ) -> int:
        self.next_pid += 1
        pid = self.next_pid
        what = next((a for a in argv if a.startswith("-config=")), argv[-1] if argv else "")
        where = "a namespace of its own" if apart else namespace
        self.calls.append(f"spawn {Path(what.split('=')[-1]).parent.name or what} in {where}")
        log.parent.mkdir(parents=True, exist_ok=True)
        died = next((text for key, text in self.exits.items() if key in what), None)
        with open(log, "a") as handle:
            handle.write(died or "started\n")
        for fd in pass_fds:  # the forwarder reports its bind on this pipe
            os.write(fd, b"ok\n")
        if died is None:
            self.running[pid] = (tuple(argv), namespace)
        return pid

    def alive(self, pid: int) -> bool:
        return pid in self.running

    def belongs(self, pid: int, marker: str) -> bool:
        return pid in self.running and any(marker in a for a in self.running[pid][0])

    def signal(self, pid: int, sig: signal.Signals) -> None:
        self.calls.append(f"signal {sig.name} {pid}")

    def terminate(self, pids: Iterable[int], grace: float = 0.0) -> list[int]:
        for pid in pids:
            self.calls.append(f"terminate {pid}")
            self.running.pop(pid, None)
        return []

    def pids_in(self, names: Iterable[str]) -> list[int]:
        wanted = set(names)
        return [pid for pid, (_, ns) in self.running.items() if ns in wanted]

    def pids_marked(self, marker: str) -> list[int]:
        return [pid for pid in self.running if self.belongs(pid, marker)]

    def cut_route(self, action: str, namespace: str, address: str, device: str) -> None:
        (self.routes.add if action == "add" else self.routes.discard)((namespace, address))

    def remove_device(self, namespace: str, device: str) -> None:
        self.calls.append(f"remove {device} in {namespace}")

    def delay_routes(self, namespace: str, device: str, addresses: list[str], source: str, pid: int, log: Path) -> None:
        self.calls.append(f"delay {namespace} via {device}: {' '.join(addresses)}")

    def mac(self, namespace: str, ifname: str) -> str:
        return "02:00:00:00:00:01"

    def record_owner(self, paths: EnvPaths) -> None:
        self.owners[paths.root.name] = paths.root

    def check_owner(self, paths: EnvPaths) -> None:
        return None

    def foreign_owner(self, paths: EnvPaths) -> Path | None:
        return None

    def forget_owner(self, paths: EnvPaths) -> None:
        self.owners.pop(paths.root.name, None)

    def owned(self) -> list[Path]:
        return list(self.owners.values())


BINARY = ServerBinary("/opt/fake/bao", "openbao", "2.7.2")


@pytest.fixture
def fake_binary(tmp_path: Path) -> str:
    """A `bao` that only knows its version: the pipeline never runs it through a FakeHost."""
    path = tmp_path / "bao"
    path.write_text('#!/bin/sh\necho "OpenBao v2.7.2 (fake), built 2026-01-01"\n')
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MULTIDC_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def plan_for(name: str, topology: Topology | None = None):  # type: ignore[no-untyped-def]
    topo = topology or Topology()

    def make(base: int) -> Plan:
        return make_plan(topo, BINARY, name, port_base=base)

    return make
