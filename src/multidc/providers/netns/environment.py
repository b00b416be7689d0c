"""An environment kept running: its health (the definition's verdict and what else keeps it from working), waits for
it, and `reconcile` (what `up` of a running environment does: start again what is missing). What faults and day-2
operate on."""

from __future__ import annotations

from ... import health, pipeline
from ...errors import ProviderError
from ...state import StateError, load
from . import changes, kms, site
from .servers import Servers

HEALTH_TIMEOUT = 60.0


class Environment(Servers):
    """The servers, plus their health and what brings them back."""

    def status(self, probe_write: bool = True) -> health.Health:
        return self._beyond(health.check_endpoints(self.endpoints(), self.ca, self.root_token(), probe_write))

    def _beyond(self, result: health.Health) -> health.Health:
        """The health definition's verdict on the DCs, and what else keeps the environment from working: a KMS that is
        not ready (a DC restarted then cannot unseal), a membership change that did not finish."""
        try:  # as recorded now: a long-lived object (the Python API's, verify's) may hold a record since replaced
            st = load(self.paths) or self.state
        except StateError:
            st = self.state
        assert st is not None
        more = kms.problems(self, st)
        sealed = any(p.startswith(("kms: sealed", "kms: running, not")) for p in more)
        result.kms_sealed = sealed if kms.running(self, st) else None
        unfinished = changes.unfinished(self, st)
        more += [unfinished] if unfinished else []
        if more:
            result.problems += more
            result.healthy = False
        return result

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT, written: bool = False, whole: bool = True) -> health.Health:
        """Wait until every rule of the health definition holds (`whole`: and what `status` adds, once they do).
        `written`: the write probe has just passed, so the first round does not write again."""
        token = self.root_token()
        seen: list[health.Health] = []
        fresh = [written]

        def healthy() -> health.Health | None:
            # One round: the write probe runs only once every other rule holds (check_endpoints sees to that).
            just = fresh.pop() if fresh else False
            seen[:] = [health.check_endpoints(self.endpoints(), self.ca, token, probe_write=True, written=just)]
            if whole and seen[0].healthy:
                seen[0] = self._beyond(seen[0])
            return seen[0] if seen[0].healthy else None

        try:
            return pipeline.wait_until(healthy, timeout, "healthy", interval=0.05)
        except TimeoutError:
            problems = "; ".join(seen[0].problems) if seen else "not checked"
            raise ProviderError(f"not healthy after {timeout:.0f}s: {problems}") from None

    def reconcile(self) -> list[str]:
        """Restart every process of an up environment that is not running, and complete a KMS whose preparation was
        interrupted; returns what was restarted (or completed)."""
        assert self.state is not None
        plan = self.plan
        restarted = []
        marker = str(self.paths.root)

        def dead(key: str) -> bool:
            pid = self.state.pids.get(key) if self.state else None
            return pid is None or not self.host.belongs(pid, marker)

        # The DC an unfinished `dc add`/`dc remove` changes is that change's to finish (membership.resume), not ours.
        changing = changes.changing(self)
        mid = plan.node(changing).namespace if changing in self.datacenters else None
        missing_ns = [n for n in plan.namespaces if n != mid and not self.host.namespace_exists(n)]
        if missing_ns:
            raise ProviderError(
                f"environment {plan.env!r} lost namespace(s) {', '.join(missing_ns)}; run `multidc down --name "
                f"{plan.env}` and `up` again"
            )
        if dead("forwarder"):
            site.start_forwarder(self)
            restarted.append("forwarder")
        if dead("kms"):
            kms.restart(self)
            self.state.faults.pop("kms", None)
            restarted.append("kms")
        elif wrong := kms.complete(self):  # running, but its preparation was interrupted (a killed `kms-up`)
            self.progress.say(kms.said(wrong).replace("the", "The", 1))
            self.state.faults.pop("kms", None)
            restarted.append("kms")
        for node in plan.nodes:
            if node.name != changing and dead(f"node:{node.name}"):
                self.restart_node(node)
                restarted.append(node.name)
        if plan.topology.unseal == "kv" and dead("unsealers"):
            kms.start_unsealers(self)
            restarted.append("unsealers")
        for kind in ("stopped", "exited"):  # no longer faults: what was down runs again
            if kind in self.state.faults and not set(self.state.faults[kind]) - set(restarted):
                self.state.faults.pop(kind)
        self.save()
        return restarted
