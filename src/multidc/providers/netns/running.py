"""The read-only view of one netns environment (what `attach` returns, with faults and day-2 on top): its plan, where
each DC answers, its tokens, its logs, a client to each node, and which DC leads."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import hvac

from ... import health
from ...errors import TopologyError
from ...progress import Progress
from ...state import load, read_secret
from ...vaultapi import client
from .host import LINUX, Host
from .plan import Node, Plan


class View:
    """One environment's plan and where its servers answer; it reads, it changes nothing."""

    def __init__(self, plan: Plan, progress: Progress | None = None, host: Host | None = None) -> None:
        self.plan = plan
        self.host: Host = host or LINUX
        self.paths = plan.paths
        self.progress = progress or Progress(quiet=True)
        self.state = load(self.paths)
        self.ca = str(self.paths.ca_cert) if plan.topology.tls else None

    # -- the Running protocol (what api.Environment, status, chaos and verify use)

    @property
    def provider(self) -> str:
        return "netns"

    @property
    def name(self) -> str:
        return self.plan.env

    @property
    def root(self) -> Path:
        return self.paths.root.parent

    @property
    def datacenters(self) -> list[str]:
        return [n.name for n in self.plan.nodes]

    @property
    def ca_cert(self) -> str | None:
        return self.ca

    def place(self, dc: str) -> Node:
        if dc == "kms":
            return self.plan.kms
        try:
            return self.plan.node(dc)
        except KeyError:
            raise TopologyError(f"no datacenter {dc!r}; choose one of: {', '.join(self.datacenters)}") from None

    def address(self, dc: str) -> str:
        return self.plan.host_url(self.place(dc))

    def vip(self, dc: str) -> str:
        return str(self.place(dc).service_address)

    def ca_for(self, dc: str) -> str | None:
        return self.ca

    def token(self, dc: str) -> str | None:
        return read_secret(self.paths, "kms-root-token" if dc == "kms" else "root-token")

    def endpoints(self) -> list[health.Endpoint]:
        return [health.Endpoint(n.name, str(n.vip), self.plan.host_url(n)) for n in self.plan.nodes]

    def logs(self, lines: int) -> dict[str, list[str]]:
        out = {}
        for node in [*self.plan.nodes, self.plan.kms]:
            try:
                text = node.paths.log.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                text = []
            out[node.name] = text[-lines:]
        return out

    def _log_path(self, dc: str, unsealer: bool) -> Path:
        node = self.place(dc)
        if not unsealer:
            return node.paths.log
        if dc == "kms" or self.plan.topology.unseal != "kv":
            who = "the KMS has" if dc == "kms" else f"environment {self.name!r} unseals through transit:"
            raise TopologyError(f"--unsealer: {who} no unsealer; unsealers run per DC in `unseal: kv` mode")
        return self.paths.unsealer_log(dc)

    def log(
        self,
        node: str,
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
        unsealer: bool = False,
    ) -> Iterator[str]:
        from ... import logfiles

        path = self._log_path(node, unsealer)  # raises before the first line is asked for

        def lines() -> Iterator[str]:
            # A restarted server appends to the same file (processes.spawn opens it "ab"): following the path sees it.
            old, end = logfiles.read(path, tail, since)
            yield from old
            if follow:
                yield from logfiles.follow(path, end)

        return lines()

    def collect(self, into: Path) -> list[str]:
        wanted: list[tuple[Path, str]] = [
            (self.paths.state, "state.json"),
            (self.paths.forwarder_log, "logs/forwarder.log"),
            (self.paths.forwarder_spec, "configs/forwarder.json"),
        ]
        for node in [*self.plan.nodes, self.plan.kms]:
            wanted += [(node.paths.log, f"logs/{node.name}.log"), (node.paths.config, f"configs/{node.name}.json")]
            wanted.append((self.paths.unsealer_log(node.name), f"logs/{node.name}-unsealer.log"))
        delays = self.paths.root / "delays"
        if delays.is_dir():
            wanted += [(p, f"logs/delays/{p.name}") for p in sorted(delays.glob("*.log"))]
        if self.ca:
            wanted.append((self.paths.ca_cert, "ca.crt"))
        written = []
        for source, name in wanted:
            try:
                data = source.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(name)
        return written

    # -- helpers

    def client(self, node: Node, token: str | None = None, timeout: float = 5.0) -> hvac.Client:
        return client(self.plan.host_url(node), self.ca, token, timeout)

    def root_token(self) -> str | None:
        return read_secret(self.paths, "root-token")

    def leader(self, timeout: float = 2.0) -> str | None:
        """The DC whose node leads Raft now, asked through every DC until one knows; None if none can tell."""
        return health.leader_of(
            [(n.name, self.plan.api_addr(n), partial(self.client, n, timeout=timeout)) for n in self.plan.nodes]
        )

    def leader_node(self) -> Node:
        """The DC node that leads now (reads there are never stale); the primary if none can tell."""
        return self.plan.node(self.leader() or self.plan.primary.name)
