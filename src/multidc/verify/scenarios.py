"""Named fault schedules. Times are fractions of the scenario's duration; targets are resolved when the run starts
(`leader` is whichever DC leads then, `follower` another DC, `primary` the first DC)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    at: float  # fraction of the duration
    action: (
        str  # kill | start | stop | pause | resume | partition | heal | kms-down | kms-up | delay-all
        # | check-sealed (the target must not serve unsealed) | check-back (the target must come back unsealed)
        # | upgrade (a rolling upgrade to the pinned version) | lose-quorum (kill the leader and the target for good)
        # | check-no-writes (a write through the target must not be acknowledged) | recover (lost-quorum recovery)
    )
    target: str = ""  # leader | follower | primary | "" (for heal, kms-*, delay-all)
    ms: int = 0  # delay-all: milliseconds each way between every pair of DCs


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: tuple[Step, ...]
    by_default: bool = True  # day-2 drills run only when named (one changes versions, one loses data on purpose)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in [
        Scenario(
            "leader-kill",
            "SIGKILL the leader's server, start it again later",
            (Step(0.25, "kill", "leader"), Step(0.6, "start", "leader")),
        ),
        Scenario(
            "minority-partition",
            "cut one follower DC off, then heal",
            (Step(0.25, "partition", "follower"), Step(0.65, "heal")),
        ),
        Scenario(
            "leader-partition",
            "cut the leader's DC off from the others, then heal",
            (Step(0.25, "partition", "leader"), Step(0.65, "heal")),
        ),
        Scenario(
            "primary-isolated",
            "cut the primary DC off from the others, then heal",
            (Step(0.25, "partition", "primary"), Step(0.65, "heal")),
        ),
        Scenario(
            "kms-down-restart",
            "stop the KMS, restart a follower DC while it is down (it must not serve: transit makes it exit, kv keeps "
            "it sealed), bring the KMS back (the follower must come back unsealed by itself)",
            (
                Step(0.15, "kms-down"),
                Step(0.25, "kill", "follower"),
                Step(0.3, "start", "follower"),
                Step(0.55, "check-sealed", "follower"),
                Step(0.6, "kms-up"),
                Step(0.65, "check-back", "follower"),
            ),
        ),
        Scenario(
            "wan-leader-kill",
            "100 ms each way between every pair of DCs (a WAN), then SIGKILL the leader and start it again",
            (Step(0.0, "delay-all", ms=100), Step(0.3, "kill", "leader"), Step(0.65, "start", "leader")),
        ),
        Scenario(
            "leader-pause",
            "SIGSTOP the leader's server, SIGCONT it later",
            (Step(0.25, "pause", "leader"), Step(0.6, "resume", "leader")),
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
