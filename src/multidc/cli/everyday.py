"""Everyday verbs: list (ls), logs, export logs, ui, and `status --watch`'s loop. Heavy modules (hvac, rich, the
providers) are imported inside the commands, so `multidc --help` stays fast."""

from __future__ import annotations

import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import MultidcError, ProviderError, TopologyError
from ..outputs import output_gone
from .common import OUTPUT, cli, complete_datacenters, env_name, fail, name_option

if TYPE_CHECKING:
    from ..api import Environment


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from ..logfiles import duration

    if value is None:
        return None
    try:
        return duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _attach(name: str | None) -> Environment:
    from .. import api

    try:
        return api.attach(env_name(name))
    except MultidcError as exc:
        fail(exc)


# --- list


@cli.command("list")
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
def list_cmd(output: str) -> None:
    """One line per environment on this host: name, provider, DCs, health in a word, age (alias: ls).

    Health: healthy, degraded (a leader but problems), no-leader, down (nothing answers), creating (an `up` is
    running), leftover (a crashed `up`: `multidc down --name NAME` removes it), unreadable."""
    from .. import inventory

    try:
        found = inventory.entries()
    except MultidcError as exc:
        fail(exc)
    if output == "json":
        click.echo(json.dumps([e.to_dict() for e in found], indent=2))
        return
    if not found:
        click.echo("no multidc environments on this host")
        return
    rows = [("NAME", "PROVIDER", "DCS", "HEALTH", "AGE")]
    rows += [(e.name, e.provider, ",".join(e.datacenters) or "-", e.health, inventory.age_text(e.age)) for e in found]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4]
        detail = found[i - 1].detail if i else ""
        click.echo(line + (f"  ({detail})" if detail else ""))


ls_cmd = copy.copy(list_cmd)
ls_cmd.hidden = True
cli.add_command(ls_cmd, "ls")


# --- logs


@cli.command("logs")
@click.argument("node", metavar="DC|kms", shell_complete=complete_datacenters)
@name_option
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (netns: across a restart); Ctrl-C ends.")
@click.option("--since", callback=_duration, metavar="DURATION", help="Only lines from this long ago on: 30s, 5m, 1h.")
@click.option("--tail", type=click.IntRange(min=0), default=None, help="Only the last N lines (then follow).")
@click.option("--unsealer", is_flag=True, help="The DC's unsealer's log instead (unseal: kv).")
def logs_cmd(node: str, name: str | None, follow: bool, since: float | None, tail: int | None, unsealer: bool) -> None:
    """Print a server's log: a DC's (by name) or the central KMS's (`kms`)."""
    env = _attach(name)
    try:
        lines = env.log(node, tail=tail, since=since, follow=follow, unsealer=unsealer)
        for line in lines:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()  # a pipe sees each line as it comes
            if output_gone():  # `| head`: nobody reads on
                break
    except KeyboardInterrupt:
        sys.exit(0)  # Ctrl-C is how -f ends: not an error
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # `| head`: nothing more to say
        sys.exit(0)
    except MultidcError as exc:
        fail(exc)


# --- export


@cli.group("export")
def export_group() -> None:
    """Bundle what happened, for a bug report."""


@export_group.command("logs")
@click.argument("destination", metavar="[DIR|FILE.tar.gz]", required=False, type=click.Path())
@name_option
def export_logs(destination: str | None, name: str | None) -> None:
    """Every server's and helper's log, the topology, the rendered configs, `status --output json`, the active faults
    and the last verify report, with every secret removed, into a directory or a .tar.gz (default:
    ./multidc-NAME-<UTC time>.tar.gz)."""
    from ..export import export

    env_label = env_name(name)
    target = Path(destination or f"multidc-{env_label}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.tar.gz")
    tar = target.name.endswith((".tar.gz", ".tgz"))
    if tar and target.exists():
        fail(TopologyError(f"{target}: already exists; give a new file name, or remove it"))
    if not tar and target.exists() and (not target.is_dir() or any(target.iterdir())):
        fail(TopologyError(f"{target}: exists and is not an empty directory; give a new directory or FILE.tar.gz"))
    env = _attach(name)
    try:
        done = export(env, target)
    except OSError as exc:
        fail(ProviderError(f"export logs: {target}: {exc.strerror or exc}"))
    except MultidcError as exc:
        fail(exc)
    removed = sum(done.redacted.values())
    click.echo(f"wrote {len(done.files)} files to {done.path} ({removed} secret value(s) removed; see README.txt)")


# --- ui


def _has_browser() -> bool:
    return sys.platform == "darwin" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@cli.command("ui")
@click.argument("dc", required=False, shell_complete=complete_datacenters)
@name_option
@click.option("--open/--no-open", "open_", default=None, help="Open a browser (default: when there is a display).")
def ui_cmd(dc: str | None, name: str | None, open_: bool | None) -> None:
    """Print a DC's web UI address (default: the leader's), how to sign in and how to trust the environment's CA;
    open a browser where there is one. Use `kms` for the central KMS's UI."""
    import requests

    env = _attach(name)
    try:
        # OpenBao 2.7.2's UI signs in only through the active node: through a standby it fails with "Authentication
        # failed: TypeError: ... 'toLowerCase'" before asking the server anything (measured). So: the leader's.
        leader = env.leader() if dc != "kms" else None
        dc = dc or leader or env.primary
        url = env.address(dc).rstrip("/") + "/ui/"
        ca = env.running.ca_for(dc)
        token = env.running.token(dc) or "(none recorded)"
    except MultidcError as exc:
        fail(exc)
    try:
        with requests.Session() as session:
            session.trust_env = False  # the address is this host's loopback: never through a proxy
            code = session.get(url, verify=ca or True, timeout=5, allow_redirects=False).status_code
        answer = None if code == 200 else f"answers /ui/ with HTTP {code}"
    except Exception as exc:  # noqa: BLE001 - one line whatever went wrong
        answer = f"does not answer ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})"
    flag = "" if env.name == "multidc" else f" --name {env.name}"
    click.echo(f"Web UI of {dc}: {url}")
    click.echo(f"Sign in: method Token, token {token}   (the same as `multidc env {dc}{flag}` exports)")
    if ca:
        click.echo(f"The server's certificate is signed by the environment's CA, {ca}. Trust it in your browser:")
        nss = f"certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n multidc-{env.name} -i {ca}"
        keychain = "/Library/Keychains/System.keychain"
        click.echo(f"  Chromium/Chrome on Linux: {nss}")
        click.echo("  Firefox: Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import")
        click.echo(f"  macOS: sudo security add-trusted-cert -d -r trustRoot -k {keychain} {ca}")
    if leader and dc != leader:
        click.echo(
            f"multidc: note: {dc} is a standby (the leader is {leader}); OpenBao's UI signs in only through the "
            f"active node: use `multidc ui {leader}{flag}`",
            err=True,
        )
    if answer:
        click.echo(f"multidc: {dc} {answer}; the UI needs `server: {{ui: true}}` (the default)", err=True)
        sys.exit(1)
    if open_ or (open_ is None and _has_browser() and sys.stdout.isatty()):
        import webbrowser

        if not webbrowser.open(url):
            click.echo("multidc: no browser could be opened; open the address above yourself", err=True)


# --- status --watch


def _frame(env: Environment, output: str) -> tuple[Any, bool]:
    """One refresh: (a renderable or a JSON line, healthy)."""
    from rich.console import Group
    from rich.text import Text

    from . import render

    result = env.status(probe_write=False)
    active = env.active_faults()
    stamp = time.strftime("%H:%M:%S")
    if output == "json":
        out = {"time": stamp, "environment": env.name, **result.to_dict(), "faults": active}
        return json.dumps(out), result.healthy
    parts: list[Any] = [Text(f"{env.name} ({env.provider}) at {stamp}, every refresh read-only")]
    parts.append(render.status_table(result))
    faults = "; ".join(render.describe_fault(k, v) for k, v in active.items()) if active else "none"
    parts.append(Text(f"active faults: {faults}"))
    if result.healthy:
        parts.append(Text(f"healthy: {len(result.nodes)} voters, leader {result.leader}"))
    else:
        parts.append(Text("UNHEALTHY: " + "; ".join(result.problems)))
    return Group(*parts), result.healthy


def watch(name: str | None, interval: float, output: str) -> None:
    """`status --watch`: refreshed in place on a terminal, repeated blocks (or JSON lines) otherwise; Ctrl-C ends it
    with exit 0."""
    from rich.console import Console
    from rich.live import Live

    env = _attach(name)
    tty = sys.stdout.isatty() and output != "json"
    console = Console(highlight=False, width=None if tty else 160)
    try:
        if tty:
            frame, _ = _frame(env, output)
            with Live(frame, console=console, auto_refresh=False) as live:
                while True:
                    time.sleep(interval)
                    live.update(_frame(env, output)[0], refresh=True)
        while True:
            frame, _ = _frame(env, output)
            if output == "json":
                click.echo(frame)
            else:
                console.print(frame)
                console.print()
            sys.stdout.flush()
            if output_gone():  # `| head`: nobody reads on
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        sys.exit(0)
    except MultidcError as exc:
        fail(exc)
