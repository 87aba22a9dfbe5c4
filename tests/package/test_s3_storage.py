"""What only the S3 backend has, against a real s3rver: selection by settings, the prefix as the
only place it writes, typed errors that never carry credentials or the server's reply (wrong
keys, no bucket, nothing listening), batched deletes, and the optional SSE header."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devstack.localstack import free_port
from orchestrator.package import (
    FilesystemStorage,
    ObjectMissing,
    StorageAccessDenied,
    StorageError,
    StorageUnavailable,
    storage_from_settings,
)
from orchestrator.package import _s3 as s3_module
from orchestrator.package._s3 import S3Storage
from orchestrator.settings import Settings
from tests.package.conftest import BUCKET, S3Server, read_object, write_object

WRONG_KEY_ID = "AKIAWRONGKEYID123456"
WRONG_SECRET = "wrong-secret-Hunter2/abc"


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_settings_choose_the_backend(tmp_path: Path, s3rver: S3Server) -> None:
    local = storage_from_settings(_settings(package_dir=tmp_path / "p"))
    assert isinstance(local, FilesystemStorage) and local.root == (tmp_path / "p").resolve()
    s3 = storage_from_settings(
        _settings(
            package_storage="s3",
            package_s3_endpoint=s3rver.endpoint,
            package_s3_bucket=BUCKET,
            package_s3_prefix="/dsr/packages",
            package_s3_access_key_id=s3rver.access_key_id,
            package_s3_secret_access_key=s3rver.secret_access_key,
        )
    )
    assert isinstance(s3, S3Storage) and s3.bucket == BUCKET and s3.prefix == "dsr/packages/"
    assert s3.describe("requests/r/package.zip.enc") == (
        f"s3://{BUCKET}/dsr/packages/requests/r/package.zip.enc"
    )
    with pytest.raises(StorageUnavailable, match="DSR_PACKAGE_S3_BUCKET"):
        storage_from_settings(_settings(package_storage="s3"))
    with pytest.raises(StorageUnavailable, match="DSR_PACKAGE_STORAGE=s3"):
        storage_from_settings(_settings(package_dir="s3://bucket/prefix"))
    with pytest.raises(ValueError, match="not a storage key"):
        S3Storage(BUCKET, prefix="a/../b", endpoint=s3rver.endpoint)


async def test_objects_land_under_the_prefix_only(s3rver: S3Server) -> None:
    one, other = s3rver.storage("tenant-one/packages"), s3rver.storage("tenant-two/packages")
    await write_object(one, "requests/r/package.zip.enc", b"ciphertext")
    assert await other.list("requests") == []
    assert not await other.exists("requests/r/package.zip.enc")
    stored = s3rver.data_dir / BUCKET / "tenant-one" / "packages" / "requests" / "r"
    assert [p.name for p in stored.iterdir() if p.name.endswith("_object")] == [
        "package.zip.enc._S3rver_object"
    ]
    assert await one.delete_prefix("requests") == 1
    assert not stored.exists() or not any(p.name.endswith("_object") for p in stored.iterdir())


async def test_deletes_go_in_batches(s3rver: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "_DELETE_BATCH", 2)  # S3 takes 1000 a call; 2 here
    storage = s3rver.storage("batched")
    for number in range(5):
        await write_object(storage, f"requests/r/parts/s/c{number}.enc", b"x")
    assert await storage.delete_prefix("requests/r") == 5
    assert await storage.list("requests/r") == []


async def test_server_side_encryption_header_is_optional(s3rver: S3Server) -> None:
    storage = s3rver.storage("sse", server_side_encryption="AES256")
    await write_object(storage, "requests/r/manifest.json.enc", b"sealed already")
    assert await read_object(storage, "requests/r/manifest.json.enc") == b"sealed already"


def _clean(error: BaseException) -> str:
    text = f"{error!s} {error!r}"
    for secret in (WRONG_KEY_ID, WRONG_SECRET, "S3RVER", "does not exist in our records"):
        assert secret not in text
    assert error.__cause__ is None and error.__suppress_context__
    return text


async def test_refused_credentials_are_access_denied_without_the_keys(s3rver: S3Server) -> None:
    storage = S3Storage(
        BUCKET,
        prefix="denied",
        endpoint=s3rver.endpoint,
        access_key_id=WRONG_KEY_ID,
        secret_access_key=WRONG_SECRET,
    )
    writer = await storage.open_writer("requests/r/package.zip.enc")
    await writer.write(b"ciphertext")
    with pytest.raises(StorageAccessDenied) as caught:
        await writer.commit()
    assert "InvalidAccessKeyId" in _clean(caught.value)
    assert "requests/r/package.zip.enc" in str(caught.value)
    for attempt in (
        storage.list("requests"),
        storage.delete_prefix("requests"),
        read_object(storage, "requests/r/package.zip.enc"),
    ):
        with pytest.raises(StorageAccessDenied) as caught:
            await attempt
        _clean(caught.value)


async def test_missing_bucket_is_unavailable(s3rver: S3Server) -> None:
    storage = S3Storage(
        "no-such-bucket",
        endpoint=s3rver.endpoint,
        access_key_id=s3rver.access_key_id,
        secret_access_key=s3rver.secret_access_key,
    )
    with pytest.raises(StorageUnavailable, match="NoSuchBucket") as caught:
        await storage.list("requests")
    _clean(caught.value)
    with pytest.raises(StorageError) as failed:
        await write_object(storage, "requests/r/package.zip.enc", b"x")
    assert not isinstance(failed.value, ObjectMissing)
    _clean(failed.value)


async def test_nothing_listening_is_unavailable() -> None:
    storage = S3Storage(
        BUCKET,
        endpoint=f"http://127.0.0.1:{free_port()}",
        access_key_id=WRONG_KEY_ID,
        secret_access_key=WRONG_SECRET,
    )
    with pytest.raises(StorageUnavailable, match="cannot be reached") as caught:
        await read_object(storage, "requests/r/package.zip.enc")
    _clean(caught.value)
