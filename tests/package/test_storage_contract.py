"""The `PackageStorage` contract, run over every backend (`storage` is parametrised: the local
directory and an S3 bucket on a real s3rver): an object is whole once committed and absent
before; abort leaves nothing; a missing object is `ObjectMissing` (a FileNotFoundError); list
and delete_prefix keep to their prefix; bad keys are refused; a large object (S3: a multipart
upload) comes back byte for byte."""

from __future__ import annotations

import hashlib
import os
import re

import pytest

from orchestrator.package import ObjectMissing, StorageError
from orchestrator.package._storage import PackageStorage
from tests.package.conftest import read_object, write_object


async def test_committed_object_reads_back_whole(storage: PackageStorage) -> None:
    chunks = [os.urandom(1000), os.urandom(70_000), b"", os.urandom(3)]
    writer = await storage.open_writer("requests/r1/package.zip.enc")
    for chunk in chunks:
        await writer.write(chunk)
    assert not await storage.exists("requests/r1/package.zip.enc"), "visible before commit"
    assert await storage.list("requests/r1") == []
    await writer.commit()
    assert await storage.exists("requests/r1/package.zip.enc")
    assert await read_object(storage, "requests/r1/package.zip.enc") == b"".join(chunks)
    assert await storage.list("requests/r1") == ["requests/r1/package.zip.enc"]


async def test_abort_leaves_nothing(storage: PackageStorage) -> None:
    writer = await storage.open_writer("requests/r2/parts/billing/contact.jsonl.enc")
    await writer.write(os.urandom(2048))
    await writer.abort()
    assert not await storage.exists("requests/r2/parts/billing/contact.jsonl.enc")
    assert await storage.list("requests/r2") == []
    assert await storage.delete_prefix("requests/r2") == 0


async def test_commit_replaces_an_earlier_object(storage: PackageStorage) -> None:
    await write_object(storage, "requests/r3/manifest.json.enc", b"first version")
    await write_object(storage, "requests/r3/manifest.json.enc", b"second")
    assert await read_object(storage, "requests/r3/manifest.json.enc") == b"second"
    assert await storage.list("requests/r3") == ["requests/r3/manifest.json.enc"]


async def test_missing_object_is_object_missing(storage: PackageStorage) -> None:
    assert not await storage.exists("requests/absent/package.zip.enc")
    with pytest.raises(ObjectMissing, match=re.escape("requests/absent/package.zip.enc")) as caught:
        await read_object(storage, "requests/absent/package.zip.enc")
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, StorageError)


async def test_list_and_delete_keep_to_their_prefix(storage: PackageStorage) -> None:
    keys = [
        "requests/a/parts/billing/contact.jsonl.enc",
        "requests/a/parts/support/tickets.jsonl.enc",
        "requests/a/package.zip.enc",
        "requests/ab/package.zip.enc",  # shares the text prefix, not the folder
        "requests/b/package.zip.enc",
    ]
    for key in keys:
        await write_object(storage, key, key.encode())
    assert await storage.list("requests/a") == sorted(keys[:3])
    assert await storage.list("requests/a/") == sorted(keys[:3])
    assert await storage.list("requests/a/parts/billing") == [keys[0]]
    assert await storage.list("requests/none") == []
    assert await storage.delete_prefix("requests/a/parts") == 2
    assert await storage.list("requests/a") == ["requests/a/package.zip.enc"]
    assert await storage.delete_prefix("requests/a") == 1
    assert await storage.list("requests") == sorted(keys[3:])
    assert await read_object(storage, keys[3]) == keys[3].encode()


@pytest.mark.parametrize(
    "key", ["../escape", "/absolute", "a//b", "a/./b", "a/../b", "", "spaces are/not keys"]
)
async def test_bad_keys_are_refused(storage: PackageStorage, key: str) -> None:
    with pytest.raises(ValueError, match="not a storage key"):
        await storage.open_writer(key)
    with pytest.raises(ValueError, match="not a storage key"):
        await storage.exists(key)


async def test_a_large_object_round_trips(storage: PackageStorage) -> None:
    """Larger than the S3 backend's multipart threshold (8 MiB) and its in-memory spool."""
    block = os.urandom(1024 * 1024)
    writer = await storage.open_writer("requests/big/package.zip.enc")
    digest = hashlib.sha256()
    for index in range(10):
        chunk = bytes([index]) + block[1:]
        digest.update(chunk)
        await writer.write(chunk)
    await writer.commit()
    read = hashlib.sha256()
    size = 0
    async for chunk in storage.read("requests/big/package.zip.enc"):
        read.update(chunk)
        size += len(chunk)
    assert size == 10 * 1024 * 1024 and read.hexdigest() == digest.hexdigest()
