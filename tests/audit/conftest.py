"""Audit tests reuse the store's fixtures: every `store` test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.store.conftest import (  # noqa: F401 - fixtures register by import
    database_url,
    disable_append_only,
    make_event,
    postgres,
    store,
)


@pytest.fixture
def seed_b64() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def private_key(seed_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))
