"""`multidc export logs`: everything needed to study a run, in a directory or a .tar.gz, with every secret removed.

The provider writes its raw files (logs, rendered configs, its state file) into a private staging directory; this
module adds the topology, `status --output json`, the active faults and the last verify report, then copies all of it
into the bundle with every secret of the environment replaced by `<redacted:NAME>`. The secrets are read from the
environment's state directory, where every provider keeps them (`secrets/`, private keys): tokens, unseal and recovery
keys, the KMS's unseal key, the transit seal token (it is in every node's rendered config), the unsealer token, the CA's
and the nodes' TLS private keys. Private-key PEM blocks are removed whatever they hold.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .paths import EnvPaths, env_paths
from .state import load

if TYPE_CHECKING:
    from .api import Environment

MIN_SECRET = 8  # shorter "values" (a PEM armour line's fragments, `1`) are not secrets and would mangle the text
_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S)
README = """\
multidc export of environment {env} ({provider}), made {when} UTC by `multidc export logs`.

logs/            every server's log (the DCs', kms.log: the central KMS's), <dc>-unsealer.log (kv mode), the helpers'
                 (forwarder.log: the host-port forwarder; delays/: the WAN-delay helpers) where the provider has them
configs/         the rendered server configs (netns) or manifests (kind/kube), as the servers read them
topology.json    the topology the environment was made from
state.json       multidc's record of it: processes, host ports, active faults
status.json      `multidc status --output json` at export time (read only: no write probe)
faults.json      the faults in force at export time
verify-report/   the last `multidc verify --report DIR` of this environment, if any
ca.crt           the environment's CA certificate (public)

Removed: every secret of the environment ({names}), each replaced by <redacted:NAME>, and every private-key PEM block.
"""


@dataclass
class Exported:
    path: Path
    files: list[str]
    redacted: dict[str, int]  # secret name -> replacements made


def secrets_of(paths: EnvPaths) -> dict[str, list[str]]:
    """Every secret value the environment's state directory holds, by name: each line of each file in `secrets/`
    (tokens, unseal/recovery keys one per line; the token and key fields of JSON specs), and the private keys
    (`*.key`)."""
    found: dict[str, list[str]] = {}
    files = sorted(paths.secrets.glob("*")) if paths.secrets.is_dir() else []
    files += sorted(p for p in paths.root.rglob("*.key") if paths.secrets not in p.parents)
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        name = str(path.relative_to(paths.root))
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):  # a helper's spec: its secret fields, not its addresses
            secret = ("token", "key", "secret", "password")
            values = [v for k, v in data.items() if isinstance(v, str) and any(s in k for s in secret)]
        else:
            values = [text.strip(), *(line.strip() for line in text.splitlines())]
        values = [v for v in values if len(v) >= MIN_SECRET and not v.startswith("-----")]
        if values:
            found[name] = sorted(set(values), key=len, reverse=True)  # longest first: a whole key before its lines
    return found


def redact(data: bytes, secrets: dict[str, list[str]], counts: dict[str, int]) -> bytes:
    data, n = _PEM_KEY.subn(b"<redacted:private key>", data)
    if n:
        counts["private key PEM"] = counts.get("private key PEM", 0) + n
    for name, values in secrets.items():
        for value in values:
            raw = value.encode()
            hits = data.count(raw)
            if hits:
                data = data.replace(raw, f"<redacted:{name}>".encode())
                counts[name] = counts.get(name, 0) + hits
    return data


def remember_report(env: str, folder: Path) -> None:
    """Record a verify report's folder in the environment's state file, for `export logs`."""
    paths = env_paths(env)
    st = load(paths)
    if st is not None:
        st.made["last_report"] = str(folder.resolve())
        st.save(paths)


def _status(env: Environment) -> dict[str, Any]:
    try:
        health = env.status(probe_write=False).to_dict()
    except Exception as exc:  # noqa: BLE001 - an export is wanted most when the environment is broken
        health = {"error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__}
    return {"environment": env.name, "provider": env.provider, **health, "faults": env.active_faults()}


def export(env: Environment, destination: Path) -> Exported:
    """Bundle everything about `env` into `destination` (a new or empty directory, or a path ending in .tar.gz)."""
    paths = env_paths(env.name, env.running.root)
    as_tar = destination.name.endswith((".tar.gz", ".tgz"))
    with tempfile.TemporaryDirectory(prefix="multidc-export-") as tmp:
        stage = Path(tmp)
        files = env.running.collect(stage)
        st = load(paths)
        extra: dict[str, Any] = {
            "topology.json": st.topology if st else None,
            "status.json": _status(env),
            "faults.json": env.active_faults(),
        }
        for name, value in extra.items():
            (stage / name).write_text(json.dumps(value, indent=2) + "\n")
            files.append(name)
        report = Path(str(st.made.get("last_report", ""))) if st and st.made.get("last_report") else None
        if report is not None and report.is_dir():
            shutil.copytree(report, stage / "verify-report", symlinks=False)
            files += [str(p.relative_to(stage)) for p in (stage / "verify-report").rglob("*") if p.is_file()]
        secrets = secrets_of(paths)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        readme = README.format(env=env.name, provider=env.provider, when=when, names=", ".join(secrets) or "none")
        (stage / "README.txt").write_text(readme)
        files.append("README.txt")
        counts: dict[str, int] = {}
        files = sorted(set(files))
        if as_tar:
            destination.parent.mkdir(parents=True, exist_ok=True)
            top = destination.name.removesuffix(".tar.gz").removesuffix(".tgz")
            with tarfile.open(destination, "w:gz") as tar:
                for name in files:
                    data = redact((stage / name).read_bytes(), secrets, counts)
                    info = tarfile.TarInfo(f"{top}/{name}")
                    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                    tar.addfile(info, io.BytesIO(data))
        else:
            destination.mkdir(parents=True, exist_ok=True)
            for name in files:
                target = destination / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(redact((stage / name).read_bytes(), secrets, counts))
    return Exported(destination, files, counts)
