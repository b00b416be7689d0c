"""`multidc dc add|remove`: change a running environment's datacenters through its provider's Operations, under the
environment's lock."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from ..errors import MultidcError
from .common import OUTPUT, cli, env_name, fail, name_option

if TYPE_CHECKING:
    from ..providers.results import MembershipReport


@cli.group("dc")
def dc_group() -> None:
    """Add or remove a datacenter of a running environment (netns); nothing that exists moves."""


def _said(report: MembershipReport, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    verb = "Added" if report.action == "add" else "Removed"
    click.echo(
        f"{verb} {report.dc} (slot {report.slot}, VIP {report.vip}, {report.host_url}) in {report.seconds:.1f}s; "
        f"healthy: {', '.join(report.datacenters)}; leader: {report.leader}."
    )


@dc_group.command("add")
@click.argument("dc")
@click.option("--pool", default=None, metavar="CIDR", help="Its load-balancer pool (default: its slot's /25).")
@name_option
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
def dc_add(dc: str, pool: str | None, name: str | None, output: str) -> None:
    """Add datacenter DC: namespace, VIP, certificate, server joined as a voter, every other node's retry_join
    updated; healthy after. Everything is checked before anything is made (exit 2)."""
    from .. import api
    from ..progress import Progress  # noqa: F401 - not every command uses it

    progress = Progress(quiet=output == "json")
    try:
        report = api.attach(env_name(name)).add_dc(dc, pool, progress)
    except MultidcError as exc:
        fail(exc)
    _said(report, output)


@dc_group.command("remove")
@click.argument("dc")
@name_option
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
def dc_remove(dc: str, name: str | None, output: str) -> None:
    """Remove datacenter DC: stepped down if it leads, removed from Raft, then its server, namespace and files;
    healthy after."""
    from .. import api
    from ..progress import Progress  # noqa: F401 - not every command uses it

    progress = Progress(quiet=output == "json")
    try:
        report = api.attach(env_name(name)).remove_dc(dc, progress)
    except MultidcError as exc:
        fail(exc)
    _said(report, output)
