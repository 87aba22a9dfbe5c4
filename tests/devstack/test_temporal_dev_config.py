"""The dev server's dynamic config keys exist in the Temporal server we ship: the server ignores
a key it does not know, silently (`history.cacheMaxSize` did nothing once 1.31 made the cache
host-level), so each key is looked for in the binary's own table of settings."""

from __future__ import annotations

import pytest

from devstack.localstack import TEMPORAL_DEV_DYNAMIC_CONFIG, StartupFailed, tool_path


def test_every_dynamic_config_key_is_one_the_server_knows() -> None:
    try:
        binary = tool_path("temporal").read_bytes()
    except StartupFailed:
        pytest.skip("the temporal CLI is not installed (the 'local' extra)")
    unknown = [key for key in TEMPORAL_DEV_DYNAMIC_CONFIG if key.encode() not in binary]
    assert unknown == []
    assert b"history.cacheMaxSize" not in binary  # the retired key: the check can tell
