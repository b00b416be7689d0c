"""The everyday commands on real environments: list (a crashed `up` shown as a leftover), logs (tail, since, an
unknown DC, -f across a restart, a kv unsealer's), export logs (every secret of the environment absent from the
bundle, directory and .tar.gz), status --watch (terminal and pipe), and the web UI in headless Chromium (the CA
trusted, a token login reaching the secrets list)."""

from __future__ import annotations

import json
import os
import pty
import queue
import select
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import devtools
from .conftest import REQUIRE_LIVE, TEST_PREFIX, Live, _counter, _skip_reason, leftovers, skip_or_fail, wait_for

pytestmark = pytest.mark.integration


def _make(tmp: Path, topology: str | None) -> Live:
    name = f"{TEST_PREFIX}{os.getpid() % 100000}x{next(_counter)}"
    env = Live(name, tmp / "state", {**os.environ, "MULTIDC_STATE_DIR": str(tmp / "state")})
    if topology is not None:
        (tmp / "t.yaml").write_text(topology)
        env.run("up", "-f", str(tmp / "t.yaml"))
    else:
        env.run("up")
    return env


def _shared(tmp_path_factory: pytest.TempPathFactory, topology: str | None) -> Iterator[Live]:
    """One environment for the module's read-mostly tests; downed and checked for leftovers at the end."""
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)
    tmp = tmp_path_factory.mktemp("everyday")
    made: list[Live] = []
    try:
        made.append(_make(tmp, topology))
        yield made[0]
    finally:
        name = made[0].name if made else None
        if made:
            made[0].run("down", check=False)
        rest = leftovers(name, tmp / "state") if name else []
        assert not rest, rest


@pytest.fixture(scope="module")
def transit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from _shared(tmp_path_factory, None)


@pytest.fixture(scope="module")
def kv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from _shared(tmp_path_factory, "unseal: kv\ndatacenters: [east, west]\n")


def multidc(env: Live, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    """A long-running multidc command of this test (ended by the test, by its pid)."""
    return subprocess.Popen(
        [sys.executable, "-m", "multidc", *args, "--name", env.name],
        env=env.env,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    got: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            got.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return got


def interrupt(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("the command did not end on Ctrl-C") from None


# --- list


def test_list_shows_a_healthy_environment_and_a_crashed_up_as_leftover(transit: Live, tmp_path: Path) -> None:
    crashed = Live(f"{transit.name}c", transit.state_dir, transit.env)
    proc = multidc(crashed, "up", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # SIGKILL the `up` once it has started the KMS: what a crash leaves (namespaces, a server, a state file)
        def kms_started() -> bool:
            try:
                return "kms" in crashed.state().get("pids", {})
            except (OSError, ValueError):  # not written yet, or being written
                return False

        wait_for(kms_started, 60, "the KMS started")
        proc.kill()
        proc.wait()
        listed = {e["name"]: e for e in json.loads(transit.run("list", "--output", "json").stdout)}
        assert listed[transit.name]["health"] == "healthy", listed
        assert listed[transit.name]["provider"] == "netns"
        assert listed[transit.name]["datacenters"] == ["primary", "secondary", "tertiary"]
        assert 0 <= listed[transit.name]["age"] < 3600
        assert listed[crashed.name]["health"] == "leftover"
        assert f"multidc down --name {crashed.name}" in listed[crashed.name]["detail"]
        text = transit.run("ls").stdout.splitlines()
        assert text[0].split() == ["NAME", "PROVIDER", "DCS", "HEALTH", "AGE"]
        mine = next(line for line in text if line.startswith(transit.name + " "))
        assert mine.split()[1:4] == ["netns", "primary,secondary,tertiary", "healthy"]
        assert any(line.startswith(crashed.name + " ") and " leftover " in line for line in text)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        crashed.run("down", check=False)
        assert not leftovers(crashed.name, crashed.state_dir)


# --- logs


def test_logs_tail_since_and_an_unknown_dc(transit: Live) -> None:
    path = transit.state_dir / transit.name / "nodes" / "secondary" / "server.log"
    whole = path.read_text().splitlines()
    out = transit.run("logs", "secondary", "--tail", "5").stdout.splitlines()
    after = path.read_text().splitlines()  # the server may have written more meanwhile
    ends = [i + 5 for i in range(len(after) - 4) if after[i : i + 5] == out]
    assert len(out) == 5 and ends and ends[-1] >= len(whole), (out, whole[-5:])  # the last 5 lines of that moment
    # --since 1h: everything from the first time-stamped line (the environment is minutes old)
    first = next(i for i, line in enumerate(whole) if line[:4].isdigit())
    since = transit.run("logs", "secondary", "--since", "1h").stdout.splitlines()
    assert (
        since[: len(whole) - first] == whole[first:]
        and since == path.read_text().splitlines()[first : first + len(since)]
    )
    kms = transit.run("logs", "kms").stdout
    assert "core: vault is unsealed" in kms or "unsealed" in kms
    bad = transit.run("logs", "nowhere", check=False)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "no datacenter 'nowhere'; choose one of: primary, secondary, tertiary" in bad.stderr
    wrong = transit.run("logs", "primary", "--since", "soon", check=False)
    assert wrong.returncode == 2 and "--since" in wrong.stderr and "30s, 5m" in wrong.stderr
    assert transit.run("logs", "primary", "--unsealer", check=False).returncode == 2  # transit: no unsealer


def test_logs_follow_across_a_restart_of_the_server(transit: Live) -> None:
    proc = multidc(transit, "logs", "tertiary", "-f", "--tail", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = lines_of(proc)
    seen: list[str] = []

    def shown(text: str) -> bool:
        while not got.empty():
            seen.append(got.get())
        return any(text in line for line in seen)

    try:
        # Following has begun once a line appended now comes through (else a quick restart could precede its start).
        # The line is appended again on each try: one written before `logs -f` took the file's end is not shown.
        log = transit.state_dir / transit.name / "nodes" / "tertiary" / "server.log"

        def following() -> bool:
            with open(log, "a") as handle:
                handle.write("multidc-test: is logs -f following?\n")
            time.sleep(0.2)
            return shown("multidc-test: is logs -f following?")

        wait_for(following, 60, "a line appended to the log, through `logs -f`")
        transit.run("chaos", "kill", "tertiary")
        transit.run("chaos", "start", "tertiary")
        wait_for(lambda: shown("OpenBao server started"), 60, "the restarted server's banner through `logs -f`")
        assert proc.poll() is None  # still following
    finally:
        code = interrupt(proc)
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    wait_for(lambda: transit.run("status", check=False).returncode == 0, 60, "healthy again")


def test_logs_of_a_kv_unsealer(kv: Live) -> None:
    out = kv.run("logs", "west", "--unsealer").stdout.splitlines()
    assert out and all(" unsealer: " in line for line in out if line[:4].isdigit())
    assert any("watching https://" in line for line in out)
    assert kv.run("logs", "west", "--unsealer", "--since", "1h").stdout.splitlines() == out  # local-time stamps
    assert kv.run("logs", "kms", "--unsealer", check=False).returncode == 2


# --- export


def secrets_of(env: Live) -> dict[str, list[str]]:
    """Every secret of the environment, read from its state directory: each line of each file in secrets/ (JSON
    specs: their token fields) and the body lines of every private key."""
    root = env.state_dir / env.name
    found: dict[str, list[str]] = {}
    for path in [*sorted((root / "secrets").iterdir()), *sorted(root.rglob("tls.key"))]:
        if path.name == "exports.json":  # what `env` prints: it names the secret files, it holds no secret itself
            continue
        text = path.read_text()
        if path.suffix == ".json":
            values = [v for k, v in json.loads(text).items() if "token" in k]
        else:
            values = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("-----")]
        found[str(path.relative_to(root))] = values
    return found


def bundle_texts(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}
    out = {}
    with tarfile.open(path, "r:gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is not None:
                out[member.name.split("/", 1)[1]] = handle.read()
    return out


def assert_free_of_secrets(env: Live, bundle: Path) -> dict[str, bytes]:
    files = bundle_texts(bundle)
    secrets = secrets_of(env)
    assert any(name.endswith("ca.key") for name in secrets) and len(secrets) >= 6, secrets
    for name, values in secrets.items():
        assert values, name
        for value in values:
            holders = [f for f, data in files.items() if value.encode() in data]
            assert not holders, f"{name} ({value[:6]}...) found in {holders}"
    if bundle.suffix == ".gz":
        raw = bundle.read_bytes()  # and nothing readable in the compressed bytes either
        assert not any(v.encode() in raw for values in secrets.values() for v in values)
    return files


def test_export_logs_removes_every_secret(transit: Live, tmp_path: Path) -> None:
    report = tmp_path / "report"
    # the verdict does not matter here (OpenBao's default standby reads may be judged stale): the report does
    transit.run("verify", "--scenario", "minority-partition", "--duration", "2", "--report", str(report), check=False)
    assert (report / "summary.json").exists()
    out = transit.run("export", "logs", str(tmp_path / "bundle")).stdout
    assert out.startswith("wrote ") and "secret value(s) removed" in out
    files = assert_free_of_secrets(transit, tmp_path / "bundle")
    for name in ("primary", "secondary", "tertiary", "kms"):
        assert b"OpenBao server started" in files[f"logs/{name}.log"]
        storage = json.loads(files[f"configs/{name}.json"])["storage"]
        assert storage["raft"]["node_id"] == name if name != "kms" else "inmem" in storage  # the KMS: in memory
    seal = json.loads(files["configs/secondary.json"])["seal"]["transit"]["token"]
    assert seal == "<redacted:secrets/seal-token>"
    status = json.loads(files["status.json"])
    assert status["environment"] == transit.name and [n["dc"] for n in status["nodes"]] == [
        "primary",
        "secondary",
        "tertiary",
    ]
    assert json.loads(files["faults.json"]) == {}
    assert "verify-report/summary.json" in files and "verify-report/minority-partition/history.jsonl" in files
    assert b"Removed: every secret" in files["README.txt"]
    tgz = tmp_path / "bundle.tar.gz"
    transit.run("export", "logs", str(tgz))
    assert set(assert_free_of_secrets(transit, tgz)) == set(files)
    again = transit.run("export", "logs", str(tmp_path / "bundle"), check=False)
    assert again.returncode == 2 and "not an empty directory" in again.stderr


def test_export_logs_of_kv_removes_unseal_keys_and_unsealer_tokens(kv: Live, tmp_path: Path) -> None:
    kv.run("export", "logs", str(tmp_path / "kv.tar.gz"))
    files = assert_free_of_secrets(kv, tmp_path / "kv.tar.gz")
    assert "logs/west-unsealer.log" in files and "unseal-keys" in "".join(secrets_of(kv))


# --- status --watch


def test_status_watch_repeats_on_a_pipe_and_ctrl_c_exits_0(transit: Live) -> None:
    transit.run("chaos", "stop", "tertiary")
    proc = multidc(transit, "status", "--watch", "--interval", "0.3", "--output", "json", stdout=subprocess.PIPE)
    got = lines_of(proc)
    try:
        frames = [json.loads(wait_for(lambda: got.get(timeout=30), 30, "a frame")) for _ in range(2)]
    finally:
        code = interrupt(proc)
        transit.run("chaos", "start", "tertiary")
    assert code == 0
    for frame in frames:
        assert frame["faults"] == {"stopped": ["tertiary"]}
        assert {n["dc"]: n["role"] for n in frame["nodes"]}["tertiary"] == "down"
    wait_for(lambda: transit.run("status", check=False).returncode == 0, 60, "healthy again")


def _reader_leaves(env: Live, *args: str, log: Path | None = None) -> tuple[int, str]:
    """`multidc ARGS | head -1`; lines appended to `log` meanwhile (what `logs -f` waits for): exit code, stderr."""
    proc = multidc(env, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert proc.stdout.readline().strip(), args
        proc.stdout.close()

        def ended() -> bool:
            if log is not None:  # a new line, which nobody reads now
                with open(log, "a") as handle:
                    handle.write("multidc-test: is anybody reading?\n")
                time.sleep(0.2)
            return proc.poll() is not None

        wait_for(ended, 60, f"`{' '.join(args)}` ended once its reader left")
        return proc.wait(), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_status_watch_and_logs_follow_end_when_their_reader_leaves(transit: Live) -> None:
    assert _reader_leaves(transit, "status", "--watch", "--interval", "0.3") == (0, "")
    log = transit.state_dir / transit.name / "nodes" / "primary" / "server.log"
    assert _reader_leaves(transit, "logs", "primary", "-f", "--tail", "1", log=log) == (0, "")


def test_status_watch_refreshes_in_place_on_a_terminal(transit: Live) -> None:
    leader, follower = pty.openpty()
    proc = multidc(transit, "status", "--watch", "--interval", "0.3", stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    try:

        def refreshed() -> bool:
            nonlocal seen
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    return False
            return seen.count(b"APPLIED") >= 2

        wait_for(refreshed, 30, "two refreshes")
    finally:
        code = interrupt(proc)
        os.close(leader)
    assert code == 0
    assert b"\x1b[2K" in seen or b"\x1b[1A" in seen or b"\x1b[A" in seen  # the table redrawn in place, not appended
    assert b"healthy: 3 voters" in seen


# --- the web UI


def test_ui_login_in_headless_chromium(transit: Live, tmp_path: Path) -> None:
    problem = devtools.missing()
    if problem:
        if REQUIRE_LIVE:
            pytest.fail(f"MULTIDC_REQUIRE_LIVE=1 but the browser test cannot run: {problem}")
        pytest.skip(problem)
    out = transit.run("ui", "--no-open")
    lines = out.stdout.splitlines()
    leader = json.loads(transit.run("status", "--output", "json").stdout)["leader"]
    url = lines[0].split(": ", 1)[1]
    assert lines[0].startswith(f"Web UI of {leader}: https://127.0.0.1:") and url.endswith("/ui/")
    token = transit.exports(leader)["BAO_TOKEN"]
    assert f"token {token}" in lines[1]
    ca = str(transit.state_dir / transit.name / "ca.crt")
    assert any(f"-i {ca}" in line for line in lines)
    shot = tmp_path / "ui-secrets.png"
    with devtools.browser(tmp_path / "chromium", ca) as page:
        page.call("Page.navigate", url=url)
        page.wait("document.querySelector('#auth-submit') !== null", 60, "the login page")
        assert "Sign in to OpenBao" in page.js("document.body.innerText")
        page.screenshot(tmp_path / "ui-login.png")
        focus = (
            "(() => { const e = document.querySelector('input[name=token]'); e && e.focus(); "
            "return e !== null && document.activeElement === e; })()"
        )
        page.wait(focus, 30, "the token field")
        page.call("Input.insertText", text=token)
        page.js("document.querySelector('#auth-submit').click()")
        try:
            page.wait("location.pathname.startsWith('/ui/vault/secrets')", 60, "the secrets engines list")
            # the list of mounts: `secret/` (kv v2, which health's write probe uses); cubbyhole/ is hidden as internal
            listed = (
                "document.body.innerText.includes('Secrets Engines') && document.body.innerText.includes('secret/')"
            )
            page.wait(listed, 30, "the mounts listed")
        finally:
            page.screenshot(shot)
            print(f"screenshot: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
