"""Named fault schedules. Times are fractions of the scenario's duration; targets are resolved when the run starts
(`leader` is whichever DC leads then, `follower` another DC, `primary` the first DC, `survivor` a third)."""

from __future__ import annotations

from dataclasses import dataclass

from ..providers.base import Fault


@dataclass(frozen=True)
class Step:
    at: float  # fraction of the duration
    action: (
        str  # what is not a fault: check-sealed (the target must not serve unsealed) | check-back (the target must
        # come back unsealed) | upgrade (a rolling upgrade to the pinned version) | lose-quorum (kill the leader and
        # the target for good) | check-no-writes (a write through the target must not be acknowledged) | recover
    ) = ""
    target: str = ""  # leader | follower | primary | survivor | ""
    fault: Fault | None = None  # a fault begun (its target a role as above; "" for a delay: every pair of DCs)
    undo: bool = False  # ... or taken back (a cut's undo heals every cut and shape)


def begin(at: float, kind: str, target: str = "", ms: int = 0) -> Step:
    return Step(at, fault=Fault(kind, target=target, ms=ms))


def end(at: float, kind: str, target: str = "") -> Step:
    return Step(at, fault=Fault(kind, target=target), undo=True)


OPERATIONS = {"upgrade": "upgrade", "recover": "recover"}  # steps that are day-2 operations (providers.base.DAY2)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: tuple[Step, ...]
    by_default: bool = True  # day-2 drills run only when named (one changes versions, one loses data on purpose)

    def needs(self) -> list[str]:
        """The fault kinds and day-2 operations it uses, for asking the provider before anything."""
        kinds = [s.fault.kind for s in self.steps if s.fault]
        kinds += ["kill" for s in self.steps if s.action == "lose-quorum"]  # it kills DCs for good
        return list(dict.fromkeys([*kinds, *(OPERATIONS[s.action] for s in self.steps if s.action in OPERATIONS)]))


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "leader-kill",
            "SIGKILL the leader's server, start it again later",
            (begin(0.25, "kill", "leader"), end(0.6, "kill", "leader")),
        ),
        Scenario(
            "minority-partition",
            "cut one follower DC off, then heal",
            (begin(0.25, "partition", "follower"), end(0.65, "partition")),
        ),
        Scenario(
            "leader-partition",
            "cut the leader's DC off from the others, then heal",
            (begin(0.25, "partition", "leader"), end(0.65, "partition")),
        ),
        Scenario(
            "primary-isolated",
            "cut the primary DC off from the others, then heal",
            (begin(0.25, "partition", "primary"), end(0.65, "partition")),
        ),
        Scenario(
            "kms-down-restart",
            "stop the KMS, restart a follower DC while it is down (it must not serve: transit makes it exit, kv keeps "
            "it sealed), bring the KMS back (the follower must come back unsealed by itself)",
            (
                begin(0.15, "kms"),
                begin(0.25, "kill", "follower"),
                end(0.3, "kill", "follower"),
                Step(0.55, "check-sealed", "follower"),
                end(0.6, "kms"),
                Step(0.65, "check-back", "follower"),
            ),
        ),
        Scenario(
            "wan-leader-kill",
            "100 ms each way between every pair of DCs (a WAN), then SIGKILL the leader and start it again",
            (begin(0.0, "delay", ms=100), begin(0.3, "kill", "leader"), end(0.65, "kill", "leader")),
        ),
        Scenario(
            "leader-pause",
            "SIGSTOP the leader's server, SIGCONT it later",
            (begin(0.25, "pause", "leader"), end(0.6, "pause", "leader")),
        ),
        Scenario(
            "rolling-upgrade",
            "upgrade every DC to the pinned OpenBao version, one at a time, the leader last (the environment must run "
            "an older one: `version: 2.6.1` in its topology); each step's longest write outage is reported",
            (Step(0.1, "upgrade"),),
            by_default=False,
        ),
        Scenario(
            "lost-quorum",
            "kill the leader and a follower for good (2 of 3 DCs), show that writes through the survivor are not "
            "acknowledged, then `recover` the survivor (peers.json) and re-add the others fresh; the report lists the "
            "acknowledged writes that did not survive",
            (
                Step(0.2, "lose-quorum", "follower"),
                Step(0.4, "check-no-writes", "survivor"),
                Step(0.5, "recover", "survivor"),
            ),
            by_default=False,
        ),
    ]
}
