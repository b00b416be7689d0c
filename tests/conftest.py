from __future__ import annotations

import pytest

from multidc.binaries import ServerBinary


@pytest.fixture
def openbao() -> ServerBinary:
    """A binary description for pure planning tests (nothing is run)."""
    return ServerBinary("/opt/bao", "openbao", "v2.7.2")
