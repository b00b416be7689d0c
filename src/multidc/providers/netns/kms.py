"""Is the central KMS ready for the DCs, and completing its preparation when it is not.

A KMS process that runs is not yet a KMS the DCs can use: `chaos kms-up` (or `up`, `chaos clear`, the nemesis) starts
it, then initialises and unseals it and gives it the transit key and the tokens (see `restart`). A command
killed in between leaves it running sealed, or unsealed without the key: a DC restarted then exits ("Error configuring
seal transit"). `status` reports such a KMS (`problems`), and `kms-up`, `clear` and `up` complete it (`complete`): on
raft storage by unsealing it with its key and giving it what it lacks; in memory the same when multidc holds its keys,
else by starting it again empty and preparing it from the start (it holds nothing a restart loses).
"""

from __future__ import annotations

import base64
import json
import sys
from typing import TYPE_CHECKING

from ... import bootstrap, interrupts, kmsprep
from ...errors import ProviderError
from ...paths import write_private
from ...pipeline import STEP_ERRORS, reason
from ...state import State, read_secret
from ...vaultapi import TRANSIENT, get, raw
from .servers import START_TIMEOUT

if TYPE_CHECKING:
    from .servers import Servers

TIMEOUT = 5.0
ACTIVE_TIMEOUT = 20.0  # a KMS on raft elects itself first (1-2 s, more on a busy machine)
PROBE = base64.b64encode(b"multidc kms check").decode()


def running(env: Servers, st: State | None = None) -> bool:
    """The KMS process multidc recorded (in `st`, default the environment's record) runs (ours: its command line
    names the environment's directory)."""
    st = st or env.state
    assert st is not None
    pid = st.pids.get("kms")
    return pid is not None and env.host.belongs(pid, str(env.paths.root))


def problems(env: Servers, st: State) -> list[str]:
    """What keeps the KMS from serving the DCs, one line each; none when it is ready, or stopped by `chaos kms-down`
    (an active fault, which `status` lists as such). `st`: the record as it is now."""
    if not running(env, st):
        if "kms" in st.faults:
            return []
        return [f"kms: not running; `multidc up --name {env.name}` starts it again"]
    return readiness(env)


def readiness(env: Servers) -> list[str]:
    """Ask the running KMS: initialised, unsealed, multidc's root token accepted, and what the DCs use from it there
    (transit: the key, usable with the nodes' seal token; kv: the unseal keys, readable with the unsealers' token)."""
    try:
        return _ask(env)
    except TRANSIENT as exc:
        return [f"kms: not answering: {reason(exc)}"]


def _ask(env: Servers) -> list[str]:
    plan, paths = env.plan, env.paths
    c = env.client(plan.kms, read_secret(paths, "kms-root-token"), timeout=TIMEOUT)
    code, seal = get(c, "/v1/sys/seal-status")
    if code != 200:
        return [f"kms: seal-status answered HTTP {code}"]
    if not seal.get("initialized"):
        return ["kms: running, not initialised: its preparation was interrupted"]
    if seal.get("sealed", True):
        return ["kms: sealed: a DC server started now cannot unseal"]
    code, _ = get(c, "/v1/auth/token/lookup-self")
    if code != 200:
        return [f"kms: multidc's root token is not accepted, HTTP {code}: its preparation was interrupted"]
    if plan.topology.unseal == "transit":
        code, _ = get(c, f"/v1/transit/keys/{plan.transit_key}")
        if code != 200:
            return [f"kms: no transit key {plan.transit_key}, HTTP {code}: a DC server started now cannot unseal"]
        seal_client = env.client(plan.kms, read_secret(paths, "seal-token"), timeout=TIMEOUT)
        answer = raw(seal_client, "POST", f"/v1/transit/encrypt/{plan.transit_key}", json={"plaintext": PROBE})
        if answer.status_code != 200:
            return [f"kms: the DC servers' seal token cannot use the transit key, HTTP {answer.status_code}"]
        return []
    unsealer = env.client(plan.kms, read_secret(paths, "unsealer-token"), timeout=TIMEOUT)
    stored = read_secret(paths, "unseal-keys") is not None  # the primary was initialised: its keys are at the KMS
    path = f"/v1/secret/data/{bootstrap.UNSEAL_KEYS_PATH}" if stored else "/v1/auth/token/lookup-self"
    code, _ = get(unsealer, path)
    if code != 200:
        return [f"kms: the unsealers cannot read the unseal keys there, HTTP {code}"]
    return []


def said(wrong: list[str]) -> str:
    """What `complete` did, for the user."""
    return f"the KMS was not ready ({wrong[0]}); completed its preparation"


def complete(env: Servers) -> list[str]:
    """Make a running KMS ready; returns what was wrong with it (nothing: it was ready, and nothing was done)."""
    wrong = readiness(env)
    if not wrong:
        return []
    inmem = env.plan.kms_storage == "inmem"
    try:
        _finish(env)
    except STEP_ERRORS as exc:
        if not inmem:
            raise ProviderError(f"completing the KMS's preparation failed: {reason(exc)}") from exc
    if readiness(env) and inmem:
        _start_again(env)
    left = readiness(env)
    if left:
        raise ProviderError(f"the KMS is still not ready after completing its preparation: {left[0]}")
    return wrong


def _finish(env: Servers) -> None:
    """The rest of the KMS's preparation, from wherever an interrupted one stopped."""
    plan, paths = env.plan, env.paths
    c = env.client(plan.kms, timeout=TIMEOUT)
    code, seal = get(c, "/v1/sys/seal-status")
    if code == 200 and not seal.get("initialized"):
        if plan.kms_storage != "inmem":
            raise ProviderError(
                "the KMS (kms.storage: raft) is not initialised: its data is gone, and with it the transit key; "
                f"`multidc down --name {env.name}` and `up` again"
            )
        provision(env)  # an empty in-memory KMS: what a restart gives it
        return
    if seal.get("sealed", True) and not bootstrap.unseal(c, [read_secret(paths, "kms-unseal-key") or ""]):
        raise ProviderError("the KMS's unseal key (secrets/kms-unseal-key) does not unseal it")
    bootstrap.wait_active(c, ACTIVE_TIMEOUT)
    c.token = read_secret(paths, "kms-root-token")
    code, _ = get(c, "/v1/auth/token/lookup-self")
    if code != 200:
        raise ProviderError(f"the KMS does not accept multidc's root token (HTTP {code})")
    if plan.topology.unseal == "transit" and read_secret(paths, "transit-key-backup") is None:
        code, _ = get(c, f"/v1/transit/keys/{plan.transit_key}")
        if code != 200:  # a new key would not decrypt what the DC servers' seal wrapped
            raise ProviderError(
                f"the KMS lacks the transit key {plan.transit_key} and multidc keeps no backup of it "
                "(kms.storage: raft); put it back with `multidc snapshot restore FILE`"
            )
    kmsprep.stock(c, env.plan, env.paths)


def _start_again(env: Servers) -> None:
    """An in-memory KMS whose keys multidc does not hold (its init was interrupted): stopped and started again empty,
    then prepared from the start (the same transit key, from its backup, and the same tokens)."""
    assert env.state is not None
    pid = env.state.pids.get("kms")
    if pid is not None and running(env) and env.host.terminate([pid]):
        raise ProviderError(f"could not stop the KMS (pid {pid}) to start it again")
    restart(env)


def spawn(env: Servers, apart: bool = False) -> int:
    """Start the KMS's server and record its PID at once: a Ctrl-C is held back until the state file has it (a
    KMS `apart` lives in no named namespace until `create_site` names it, so `down` finds it only by its PID)."""
    assert env.state is not None
    with interrupts.deferred():
        pid = env.state.pids["kms"] = env.spawn_server(env.plan.kms, apart)
        env.save()
    return pid


def provision(env: Servers) -> None:
    """Initialise and unseal a KMS that holds nothing, then give it what the environment needs (kmsprep.provision)."""
    kmsprep.provision(env.client(env.plan.kms), env.plan, env.paths, START_TIMEOUT)


def restart_unsealers(env: Servers) -> None:
    """Stop the unsealers' process (ours) and start it again for the DCs the plan has now."""
    assert env.state is not None
    pid = env.state.pids.get("unsealers")
    if pid is not None and env.host.belongs(pid, str(env.paths.root)):
        env.host.terminate([pid])
    start_unsealers(env)
    env.save()


def start_unsealers(env: Servers) -> None:
    """One process for every DC's unsealer: a thread per DC, each inside its DC's namespace (unsealer.py)."""
    assert env.state is not None
    plan = env.plan
    spec = {
        "kms_url": plan.api_addr(plan.kms),
        "kms_token": read_secret(env.paths, "unsealer-token"),
        "ca_cert": env.ca or "",
        "datacenters": [
            {
                "name": node.name,
                "node_url": plan.api_addr(node),
                "namespace": node.namespace,
                "log": str(env.paths.unsealer_log(node.name)),
            }
            for node in plan.nodes
        ],
    }
    write_private(env.paths.unsealers_spec, json.dumps(spec))
    argv = [sys.executable, "-m", "multidc.unsealer", str(env.paths.unsealers_spec)]
    # Started in the first DC's namespace, so `down` finds it there too; each thread enters its own DC's.
    env.state.pids["unsealers"] = env.host.spawn(argv, plan.nodes[0].namespace, env.paths.unsealers_log)


def restart(env: Servers) -> None:
    """Start the KMS again: on raft, unseal it with its own key (it comes back sealed); in memory, it comes back
    empty, and gets again the same root token, transit key, seal token (or unsealer token and unseal keys)."""
    assert env.state is not None
    pid = env.state.pids["kms"] = env.spawn_server(env.plan.kms)
    env.save()
    env.started(env.plan.kms, "kms")
    kmsprep.revive(env.client(env.plan.kms), env.plan, env.paths, START_TIMEOUT, lambda: env.host.terminate([pid]))
