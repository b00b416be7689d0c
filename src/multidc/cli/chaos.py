"""`multidc chaos VERB`: every fault through the environment's provider (its Faults), under the environment's lock."""

from __future__ import annotations

import sys
from typing import Any

import click

from .. import locks
from ..errors import MultidcError
from ..links import MAX_MS as MAX_DELAY_MS
from .common import cli, complete_datacenters, env_name, fail, finite, name_option


@cli.group()
def chaos() -> None:
    """Break the environment on purpose (netns: signals and routes; kind: docker); every fault is reversible,
    `status` shows it."""


def _apply(name: str | None, action: str, *args: Any) -> None:
    from .. import api

    try:
        click.echo(api.attach(env_name(name)).fault(action, *args))
    except MultidcError as exc:
        fail(exc)


def _one_dc(verb: str, help_text: str) -> None:
    @chaos.command(verb, help=help_text)
    @click.argument("dc", shell_complete=complete_datacenters)
    @name_option
    def command(dc: str, name: str | None) -> None:
        _apply(name, verb, dc)


_one_dc("kill", "SIGKILL the DC's server.")
_one_dc("stop", "SIGTERM the DC's server.")
_one_dc("start", "Start the DC's server again (it rejoins and unseals by itself).")
_one_dc("pause", "SIGSTOP the DC's server.")
_one_dc("resume", "SIGCONT the DC's server.")


@chaos.command("partition")
@click.argument("group")
@name_option
def chaos_partition(group: str, name: str | None) -> None:
    """Cut GROUP (DC[,DC...], may include kms) off from the rest, both directions."""
    _apply(name, "partition", [g for g in group.split(",") if g])


@chaos.command("one-way")
@click.argument("a", shell_complete=complete_datacenters)
@click.argument("b", shell_complete=complete_datacenters)
@name_option
def chaos_one_way(a: str, b: str, name: str | None) -> None:
    """Drop every packet A (a DC or kms) sends to B; B's packets to A pass."""
    _apply(name, "cut", a, b)


@chaos.command("bridge")
@click.argument("via", shell_complete=complete_datacenters)
@name_option
def chaos_bridge(via: str, name: str | None) -> None:
    """Split the other DCs in two halves that cannot reach each other; VIA reaches both (3 DCs or more)."""
    _apply(name, "bridge", via)


@chaos.command("heal")
@name_option
def chaos_heal(name: str | None) -> None:
    """Remove every partition, one-way cut, bridge, delay and loss."""
    _apply(name, "heal")


@chaos.command("clear")
@name_option
def chaos_clear(name: str | None) -> None:
    """Undo every fault: heal the network, resume what is paused, start what is down (the KMS too)."""
    from .. import api

    try:
        env = api.attach(env_name(name))
        with locks.hold(env.name, "chaos clear", env.running.root):
            problems = env.faults.clear()
    except MultidcError as exc:
        fail(exc)
    for problem in problems:
        click.echo(f"multidc: could not undo: {problem}", err=True)
    click.echo("undid every fault" if not problems else f"undid every fault but {len(problems)}")
    if problems:
        sys.exit(1)


@chaos.command("kms-down")
@name_option
def chaos_kms_down(name: str | None) -> None:
    """Stop the central KMS."""
    _apply(name, "kms-down")


@chaos.command("kms-up")
@name_option
def chaos_kms_up(name: str | None) -> None:
    """Start the central KMS again (and unseal it)."""
    _apply(name, "kms-up")


@chaos.command("delay", context_settings={"ignore_unknown_options": True})  # so `-5` reads as a number, refused
@click.argument("a", shell_complete=complete_datacenters)
@click.argument("b", shell_complete=complete_datacenters)
@click.argument("ms", type=click.IntRange(0, MAX_DELAY_MS))
@click.option(
    "--jitter", type=click.IntRange(0, MAX_DELAY_MS), default=0, help="± this many ms per packet (uniform, <= MS)."
)
@name_option
def chaos_delay(a: str, b: str, ms: int, jitter: int, name: str | None) -> None:
    """Hold every packet between A and B (DCs or kms) back by MS milliseconds (± jitter) each way; 0 removes it."""
    _apply(name, "delay", a, b, ms, jitter)


@chaos.command("loss", context_settings={"ignore_unknown_options": True})
@click.argument("a", shell_complete=complete_datacenters)
@click.argument("b", shell_complete=complete_datacenters)
@click.argument("percent", type=click.FloatRange(0, 100), callback=finite)
@name_option
def chaos_loss(a: str, b: str, percent: float, name: str | None) -> None:
    """Drop PERCENT of the packets between A and B (DCs or kms), each way, at random; 0 removes it."""
    _apply(name, "loss", a, b, percent)
