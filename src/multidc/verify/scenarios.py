"""Named fault schedules. Times are fractions of the scenario's duration; targets are resolved when the run starts
(`leader` is whichever DC leads then, `follower` another DC, `primary` the first DC)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    at: float  # fraction of the duration
    action: str  # kill | start | stop | pause | resume | partition | heal | kms-down | kms-up | check-sealed
    target: str = ""  # leader | follower | primary | "" (for heal, kms-*)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: tuple[Step, ...]


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
            "stop the KMS, restart a follower DC while it is down (it must stay sealed), bring the KMS back",
            (
                Step(0.15, "kms-down"),
                Step(0.25, "kill", "follower"),
                Step(0.3, "start", "follower"),
                Step(0.55, "check-sealed", "follower"),
                Step(0.6, "kms-up"),
            ),
        ),
        Scenario(
            "leader-pause",
            "SIGSTOP the leader's server, SIGCONT it later",
            (Step(0.25, "pause", "leader"), Step(0.6, "resume", "leader")),
        ),
    ]
}
