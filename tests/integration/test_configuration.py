"""The configuration section applied to a real environment, checked with the real `bao` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Live
from .test_environment import bao

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "configured.yaml"


def test_configuration_applies_idempotently_and_reports_drift(live, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    env: Live = live()
    up = env.json("up", "-f", str(EXAMPLE))
    assert up["healthy"] is True and "Applying configuration" in up["steps"]

    # a userpass user logs in and gets exactly its policy's capabilities
    secondary = env.exports("secondary")
    login = bao(secondary, "login", "-method=userpass", "-token-only", "username=alice", "password=wonderland")
    assert login.returncode == 0, login.stderr
    alice = {**secondary, "BAO_TOKEN": login.stdout.strip(), "VAULT_TOKEN": login.stdout.strip()}
    assert bao(alice, "kv", "put", "secret/app/config", "a=1").returncode == 0
    denied = bao(alice, "kv", "get", "secret/accounts/aws")
    assert denied.returncode != 0 and "permission denied" in denied.stderr
    assert bao(alice, "secrets", "list").returncode != 0

    # PKI issues a certificate from the generated root
    issued = bao(secondary, "write", "-format=json", "pki/issue/default", "common_name=www.test", "ttl=5m")
    assert issued.returncode == 0, issued.stderr
    assert "BEGIN CERTIFICATE" in json.loads(issued.stdout)["data"]["certificate"]
    # the transit key exists
    assert bao(secondary, "read", "transit/keys/orders").returncode == 0

    # startup secrets are readable from every DC
    for dc in ("primary", "secondary", "tertiary"):
        got = bao(env.exports(dc), "kv", "get", "-field=AWS_ACCESS_KEY_ID", "secret/accounts/aws")
        assert got.stdout.strip() == "secretId", got.stderr

    # applying twice changes nothing
    again = env.run("configure").stdout
    assert "already matches (2 policies, 2 auth, 3 secrets, 1 startupSecrets); nothing changed" in again

    # drift is reported, and configure repairs it
    tampered = bao(env.exports("primary"), "policy", "delete", "allow_pki")
    assert tampered.returncode == 0
    status = env.run("status").stdout
    assert "DRIFT in 1 item(s): policy allow_pki" in status
    assert env.json("status")["configuration"]["drift"] == ["policy allow_pki"]
    fixed = env.run("configure").stdout
    assert "create policy allow_pki" in fixed
    assert "matches the file" in env.run("status").stdout

    # a malformed section is rejected before anything changes
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("token_policies: allow_secrets", "token_policies: allow_nothing"))
    refused = env.run("configure", "-f", str(bad), check=False)
    assert refused.returncode == 2 and "policy 'allow_nothing' is not defined" in refused.stderr
    assert "matches the file" in env.run("status").stdout
