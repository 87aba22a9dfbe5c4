"""Fixtures for the package tests: a real SQLite key store, the shipped policy, a data key ring
over them, and the package storage — the local directory and an S3-compatible bucket on a real
s3rver (an S3 server on a folder, installed by `make`) — so every test that takes `kit` or
`storage` runs against both backends (no mocks: the same classes the worker uses)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.localstack import S3RVER_CREDENTIALS, free_port, s3_server
from orchestrator.datakeys import DataKeyRing
from orchestrator.package import EncryptedExportParts, FilesystemStorage, PackageService
from orchestrator.package._s3 import S3Storage
from orchestrator.package._storage import PackageStorage
from orchestrator.store._keys import KeyStore
from policy.loader import load_policy

BACKENDS = ["local", "s3"]
BUCKET = "dsr-packages"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    data_dir: Path  # where s3rver keeps the objects: scanned for plaintext
    access_key_id: str = S3RVER_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    secret_access_key: str = S3RVER_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]

    def storage(self, prefix: str, **options: object) -> S3Storage:
        return S3Storage(
            BUCKET,
            prefix=prefix,
            endpoint=self.endpoint,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            **options,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("s3rver")
    port = free_port()
    process, _ = s3_server(port, root / "data", root / "logs", bucket=BUCKET)
    try:
        yield S3Server(f"http://127.0.0.1:{port}", root / "data")
    finally:
        process.stop()


def make_storage(backend: str, tmp_path: Path, s3rver: S3Server | None) -> PackageStorage:
    if backend == "local":
        return FilesystemStorage(tmp_path / "packages")
    assert s3rver is not None
    return s3rver.storage(f"t-{secrets.token_hex(6)}/packages")  # one prefix per test


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> PackageStorage:
    s3 = request.getfixturevalue("s3rver") if request.param == "s3" else None
    return make_storage(request.param, tmp_path, s3)


@dataclass
class PackageKit:
    root: Path
    storage: PackageStorage
    key_store: KeyStore
    keys: DataKeyRing
    service: PackageService
    exports: EncryptedExportParts
    database_url: str
    master: dict[str, bytes]
    at_rest: list[Path]  # every folder that holds what storage keeps (scanned for plaintext)


@pytest.fixture
async def kit(
    request: pytest.FixtureRequest, tmp_path: Path, storage: PackageStorage
) -> AsyncIterator[PackageKit]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}"
    master = {"m1": os.urandom(32)}
    key_store = await KeyStore.open(url)
    keys = DataKeyRing(master, store=key_store)
    service = PackageService(storage, keys, key_store, load_policy(None))
    at_rest = [tmp_path]
    if isinstance(storage, S3Storage):
        s3: S3Server = request.getfixturevalue("s3rver")
        at_rest.append(s3.data_dir / BUCKET / storage.prefix.rstrip("/"))
    yield PackageKit(
        tmp_path,
        storage,
        key_store,
        keys,
        service,
        EncryptedExportParts(storage, keys),
        url,
        master,
        at_rest,
    )
    await key_store.close()


async def read_object(storage: PackageStorage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key)])


async def write_object(storage: PackageStorage, key: str, data: bytes) -> None:
    writer = await storage.open_writer(key)
    await writer.write(data)
    await writer.commit()
