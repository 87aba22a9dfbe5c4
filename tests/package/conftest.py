"""Fixtures for the package tests: a real SQLite key store, a filesystem package store, the
shipped policy, and a data key ring over them (no mocks: the same classes the worker uses)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.datakeys import DataKeyRing
from orchestrator.package import EncryptedExportParts, FilesystemStorage, PackageService
from orchestrator.store._keys import KeyStore
from policy.loader import load_policy


@dataclass
class PackageKit:
    root: Path
    storage: FilesystemStorage
    key_store: KeyStore
    keys: DataKeyRing
    service: PackageService
    exports: EncryptedExportParts
    database_url: str
    master: dict[str, bytes]


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[PackageKit]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}"
    master = {"m1": os.urandom(32)}
    key_store = await KeyStore.open(url)
    keys = DataKeyRing(master, store=key_store)
    storage = FilesystemStorage(tmp_path / "packages")
    service = PackageService(storage, keys, key_store, load_policy(None))
    yield PackageKit(
        tmp_path,
        storage,
        key_store,
        keys,
        service,
        EncryptedExportParts(storage, keys),
        url,
        master,
    )
    await key_store.close()
