"""How results look: text for people, JSON for programs. No command logic, no provider knowledge."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import links
from ..names import DEFAULT_NAME

if TYPE_CHECKING:  # rich and the health check load only for the commands that print them (`env` stays light)
    from rich.table import Table

    from ..health import Health
    from ..providers.base import UpOutcome


def up_json(result: UpOutcome) -> str:
    return json.dumps(
        {
            "environment": result.env,
            "provider": result.provider,
            "healthy": result.health.healthy,
            "already_up": result.already,
            "restarted": result.restarted,
            "seconds": round(result.seconds, 3),
            "steps": {k: round(v, 3) for k, v in result.durations.items()},
            "datacenters": {r.name: r.url for r in result.rows if r.name != "kms"},
            "kms": result.kms_url,
            "ca_cert": result.ca_cert,
        },
        indent=2,
    )


def up_text(result: UpOutcome) -> str:
    if result.already:
        lines = [f"Environment {result.env!r} is already up and healthy."]
    else:
        lines = [f"Environment {result.env!r} is healthy ({result.seconds:.1f}s); leader: {result.health.leader}."]
    lines += [f"  {r.name:<12} {r.url:<26} {r.where}" for r in result.rows]
    flag = "" if result.env == DEFAULT_NAME else f" --name {result.env}"
    lines.append(f'Use it:  eval "$({command("multidc")} env{flag})" && {command("bao")} status')
    return "\n".join(lines)


def command(name: str) -> str:
    """How the user's shell reaches this installation's `name`: the bare name when PATH finds this very copy, else its
    full path (a fresh venv is not on PATH until activated: a bare `multidc` in a hint would be "command not found").
    """
    here = Path(sys.executable).parent / name  # console scripts sit beside the interpreter that runs them
    try:
        if not here.is_file():
            return name
    except OSError:  # a directory this user may not enter (an interpreter under /root run by another user)
        return name
    found = shutil.which(name)
    if found and os.path.realpath(found) == os.path.realpath(here):
        return name
    return shlex.quote(str(here))


def exports(values: dict[str, str]) -> str:
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())


def _yes_no(value: bool | None) -> str:
    """yes/no, or `?` when the node could not be asked."""
    return "?" if value is None else "yes" if value else "no"


def status_table(result: Health) -> Table:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("DC", "VIP", "HOST URL", "ROLE", "VOTER", "SEALED", "APPLIED", "VERSION"):
        table.add_column(col)
    for n in result.nodes:
        cells = (n.role, _yes_no(n.voter), _yes_no(n.sealed), str(n.applied_index), n.version or "?")
        table.add_row(n.dc, n.vip, n.host_url, *cells)
    return table


def describe_fault(kind: str, value: Any) -> str:
    """One fault of the state file for people: `partitions: tertiary | primary,kms`, `links: a-b +40 ms, 5% loss`."""
    network = links.describe(kind, value)
    if network is not None:
        return network
    if kind == "exited":
        return "exited when started (starts again with the KMS): " + ", ".join(value)
    if isinstance(value, list):
        return f"{kind}: {', '.join(map(str, value))}"
    return f"{kind}: {value}"


def counts(found: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in found.items()) or "empty"


def drift_line(found: dict[str, Any]) -> str:
    if "error" in found:
        return f"configuration: could not compare ({found['error']})"
    if found["in_sync"]:
        return f"configuration: {counts(found['counts'])}; matches the file"
    drift = ", ".join(found["drift"][:6])
    return f"configuration: {counts(found['counts'])}; DRIFT in {len(found['drift'])} item(s): {drift}"
