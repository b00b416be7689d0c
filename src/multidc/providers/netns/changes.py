"""The record of a membership change (`dc add`, `dc remove`) under way or interrupted, as the state file keeps it:
what `status` reports, what `up` leaves to membership.resume."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ...state import State

if TYPE_CHECKING:
    from .running import View

PENDING = "membership"  # state.made's record of a change under way (or interrupted)


def pending(env: View, st: State | None = None) -> dict[str, Any] | None:
    """The membership change recorded (in `st`, default the environment's record) and not finished: action, dc, the
    recording pid, the record before it."""
    st = st or env.state
    assert st is not None
    found = st.made.get(PENDING)
    return found if isinstance(found, dict) else None


def changing(env: View) -> str | None:
    """The DC an unfinished change adds or removes (its processes and namespace are that change's to finish)."""
    found = pending(env)
    return str(found["dc"]) if found else None


def unfinished(env: View, st: State | None = None) -> str | None:
    """One line on an unfinished change and what to run; None when there is none."""
    found = pending(env, st)
    if found is None:
        return None
    action, dc, pid = found["action"], found["dc"], found.get("pid")
    if isinstance(pid, int) and pid != os.getpid() and env.host.alive(pid):
        return f"`dc {action} {dc}` is under way (pid {pid})"
    remove = f"`multidc dc remove {dc} --name {env.name}`"
    then = f"or {remove} completes it" if action == "remove" else f"completes it, {remove} takes it back"
    return f"`dc {action} {dc}` did not finish; `multidc up --name {env.name}` {then}"
