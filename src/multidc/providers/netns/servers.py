"""The environment's server processes: started (its PID recorded in the state file), waited for until it answers,
told why it died (from its log), started again; each node's certificate and config. The public surface the KMS, the
site, the `up` steps, faults and day-2 use."""

from __future__ import annotations

import json
from ipaddress import IPv4Address

from ... import bootstrap, pipeline, pki
from ...errors import ProviderError
from ...paths import write_private
from ...progress import Progress
from ...state import read_secret
from .host import Host
from .plan import Node, Plan
from .running import View

START_TIMEOUT = 20.0


class Servers(View):
    """The view, plus what starts and records the servers."""

    def __init__(self, plan: Plan, progress: Progress | None = None, host: Host | None = None) -> None:
        super().__init__(plan, progress, host)
        self._log_starts: dict[str, int] = {}  # log size when each server was last started by this object

    def save(self) -> None:
        assert self.state is not None
        self.state.save(self.paths)

    def mark_fault(self, kind: str, name: str, on: bool) -> None:
        """Record `name` as under the fault `kind` (on) or no longer (off) in the state file's active faults."""
        assert self.state is not None
        items = set(self.state.faults.get(kind, []))
        (items.add if on else items.discard)(name)
        self.state.faults[kind] = sorted(items)
        if not items:
            self.state.faults.pop(kind)
        self.save()

    def spawn_server(self, node: Node, apart: bool = False) -> int:
        argv = [self.plan.binary_of(node).path, "server", f"-config={node.paths.config}"]
        try:
            self._log_starts[node.name] = node.paths.log.stat().st_size
        except FileNotFoundError:
            self._log_starts[node.name] = 0
        return self.host.spawn(argv, node.namespace, node.paths.log, apart=apart)

    def log_tail(self, node: Node, lines: int = 3) -> str:
        """The lines that say why, from what the server wrote since it was last started here: its fatal `Error ...`
        line first, else its [ERROR] lines, else its last lines."""
        try:
            with open(node.paths.log, "rb") as handle:
                handle.seek(self._log_starts.get(node.name, 0))
                text = handle.read().decode(errors="replace").strip().splitlines()
        except FileNotFoundError:
            return ""
        fatal = [t for t in text if t.startswith("Error")]
        wanted = fatal or [t for t in text if "[ERROR]" in t] or text
        return " | ".join(t.strip()[:300] for t in wanted[-lines:])

    def started(self, node: Node, key: str) -> None:
        """Wait until a just-started server answers; if it died, say why from its log."""
        assert self.state is not None
        pid = self.state.pids[key]
        c = self.client(node, timeout=1)

        def answers() -> bool:
            try:
                bootstrap.wait_listening(c, timeout=0.3)
                return True
            except TimeoutError:
                if not self.host.alive(pid):
                    raise ProviderError(
                        f"the {node.name} server exited: {self.log_tail(node) or 'no log output'}"
                    ) from None
                return False

        try:
            pipeline.wait_until(answers, START_TIMEOUT, f"the {node.name} server", interval=0)
        except TimeoutError:
            raise ProviderError(f"the {node.name} server did not answer within {START_TIMEOUT:.0f}s") from None

    def issue_certificate(self, ca: pki.Issued, node: Node) -> None:
        """The node's server certificate (SANs: its address, its VIP, 127.0.0.1, localhost, its name)."""
        ips = [node.address, *([node.vip] if node.vip else []), *_loopback()]
        issued = pki.issue(ca, f"{node.name}.{self.plan.env}.multidc", ips, ["localhost", node.name])
        write_private(node.paths.cert, issued.cert_pem.decode())
        write_private(node.paths.key, issued.key_pem.decode())

    def write_node_config(self, node: Node) -> None:
        """The DC node's server config as the plan has it now (its retry_join lists every other DC), with the seal's
        token: a server reads it when it starts."""
        seal_token = (read_secret(self.paths, "seal-token") or "") if self.plan.topology.unseal == "transit" else ""
        write_private(node.paths.config, json.dumps(self.plan.node_config(node, seal_token), indent=2))

    def write_node_configs(self, first_start: bool) -> None:
        """Every DC's config. A first start has no retry_join on the primary, nor under kv on any DC: the primary is
        initialised, the others joined at once (`join_datacenters`). The primary's retry_join would only dial the
        other DCs' VIPs before they exist (about 1 s an attempt, in its log), and under kv an unseal waits for a
        retry join under way; a Shamir-sealed node whose own retry_join races a join it is asked for can deadlock.
        Once joined, a node keeps its Raft membership in its data; after the joins every config gets retry_join
        back, for any later start."""
        seal_token = read_secret(self.paths, "seal-token") or ""
        transit = self.plan.topology.unseal == "transit"
        for node in self.plan.nodes:
            retry_join = not first_start or (transit and node is not self.plan.primary)
            config = self.plan.node_config(node, seal_token, retry_join)
            write_private(node.paths.config, json.dumps(config, indent=2))

    def restart_node(self, node: Node) -> None:
        """Start a DC's server again; it rejoins through retry_join and unseals by itself (transit or its unsealer)."""
        assert self.state is not None
        self.state.pids[f"node:{node.name}"] = self.spawn_server(node)
        self.save()


def _loopback() -> list[IPv4Address]:
    return [IPv4Address("127.0.0.1")]
