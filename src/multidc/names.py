"""Names a user gives: environments and datacenters. Checked before any path, namespace or link is built from them."""

from __future__ import annotations

import re

DEFAULT_NAME = "multidc"  # the environment's name when none is given

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# Linux interface names hold 15 characters; ours are "<env>-dc<n>", "<env>-kms" and "<env>-dly", so the name keeps 11.
IFNAME_MAX = 15
MAX_ENV_NAME = IFNAME_MAX - len("-kms")
# `kms` names the central KMS wherever a DC name is accepted (env, status, chaos); a DC of that name would shadow it.
RESERVED_DC_NAMES = ("kms",)


def check_dns_label(value: str, what: str, most: int = 63) -> str:
    if not isinstance(value, str) or not DNS_LABEL.match(value):
        raise ValueError(
            f"{what} {value!r} is not a DNS label: use lowercase letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {most} characters"
        )
    return value


def check_env_name(value: str) -> str:
    """An environment name must be a DNS label short enough for the interface names built from it (and so can never
    hold '/', '.' or '..': it is safe as a directory name under the state root)."""
    check_dns_label(value, "environment name", MAX_ENV_NAME)
    if len(value) > MAX_ENV_NAME:
        raise ValueError(
            f"environment name {value!r} is {len(value)} characters: interface '{value}-kms' would exceed "
            f"Linux's {IFNAME_MAX}-character limit; use at most {MAX_ENV_NAME} characters"
        )
    return value


def check_dc_name(value: str) -> str:
    check_dns_label(value, "datacenter name")
    if value in RESERVED_DC_NAMES:
        raise ValueError(f"datacenter name {value!r} is reserved for the central KMS; choose another name")
    return value


def is_env_name(value: str) -> bool:
    try:
        check_env_name(value)
    except ValueError:
        return False
    return True


def check_env_name_or_raise(name: str) -> str:
    """check_env_name for the API: the refusal as a TopologyError (one line, exit 2)."""
    from .errors import TopologyError

    try:
        return check_env_name(name)
    except ValueError as exc:
        raise TopologyError(f"--name: {exc}") from None
