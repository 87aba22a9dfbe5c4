"""Where encrypted package files live: a small storage interface and its backends.

Only ciphertext ever passes through a storage backend (see `_crypto`), so the backend needs no
trust: a shared filesystem (`FilesystemStorage`, DSR_PACKAGE_DIR, the default) or an
S3-compatible bucket (`_s3.S3Storage`, DSR_PACKAGE_STORAGE=s3) behind the same interface;
`storage_from_settings` chooses.

Keys are `/`-separated relative names (`requests/<request id>/package.zip.enc`). The filesystem
backend keeps them under DSR_PACKAGE_DIR in owner-only directories (0700) and files (0600),
writes each object to a temporary name and renames it on commit (a retried activity never sees
half a file), and fsyncs before the rename.

Every backend keeps one contract (tests/package/test_storage_contract.py runs it over both):
a committed object is whole or absent; a missing object is `ObjectMissing` (a
`FileNotFoundError`); other failures are a `StorageError` whose message names the operation
and the key, never credentials or the store's own reply.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from orchestrator.settings import Settings

__all__ = [
    "FilesystemStorage",
    "ObjectMissing",
    "ObjectWriter",
    "PackageStorage",
    "StorageAccessDenied",
    "StorageError",
    "StorageFailed",
    "StorageUnavailable",
    "check_key",
    "storage_from_settings",
]

_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_READ_CHUNK = 256 * 1024


class StorageError(Exception):
    """A package storage operation failed (the message names the operation and the key)."""


class StorageUnavailable(StorageError):
    """The configured package storage cannot be used now: misconfigured, unreachable, no bucket."""


class StorageAccessDenied(StorageUnavailable):
    """The store refused this process's credentials (the message never holds them)."""


class StorageFailed(StorageError):
    """The store answered an operation with an error not covered above."""


class ObjectMissing(FileNotFoundError, StorageError):
    """No object under that key (never written, or deleted at the package's expiry)."""


class ObjectWriter(Protocol):
    async def write(self, data: bytes) -> None: ...
    async def commit(self) -> None: ...
    async def abort(self) -> None: ...


class PackageStorage(Protocol):
    """Ciphertext objects by key. Implementations must make `commit` atomic."""

    def describe(self, key: str) -> str: ...
    async def open_writer(self, key: str) -> ObjectWriter: ...
    def read(self, key: str) -> AsyncIterator[bytes]: ...
    async def exists(self, key: str) -> bool: ...
    async def list(self, prefix: str) -> list[str]: ...
    async def delete_prefix(self, prefix: str) -> int: ...


def check_key(key: str) -> str:
    """`key` if it is a relative `/`-separated name without `.`/`..` parts, else ValueError."""
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class _FileWriter:
    # fsync, rename and unlink run in a thread: on the event loop they stalled every other
    # activity of the worker (12-20 % of its active samples in a py-spy profile, bench/README).
    def __init__(self, final: Path) -> None:
        self._final = final
        self._tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.partial")
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")

    async def write(self, data: bytes) -> None:
        self._file.write(data)

    async def commit(self) -> None:
        await asyncio.to_thread(self._commit)

    def _commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self._final)

    async def abort(self) -> None:
        await asyncio.to_thread(self._abort)

    def _abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


class FilesystemStorage:
    """Package storage in a local or shared directory (DSR_PACKAGE_DIR)."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def describe(self, key: str) -> str:
        return self._path(key).as_uri()

    async def open_writer(self, key: str) -> ObjectWriter:
        path = self._path(key)
        directory = self.root
        for part in key.split("/")[:-1]:
            directory = directory / part
            directory.mkdir(exist_ok=True, mode=0o700)
        return _FileWriter(path)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise ObjectMissing(f"no package object {key!r}") from None
        with handle:
            while chunk := handle.read(_READ_CHUNK):
                yield chunk

    async def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    async def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        return sorted(
            path.relative_to(self.root).as_posix()
            for path in base.rglob("*")
            if path.is_file() and not path.name.endswith(".partial")
        )

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix` (and their directories); returns how many."""
        return await asyncio.to_thread(self._delete_prefix, prefix)

    def _delete_prefix(self, prefix: str) -> int:
        # os.walk, bottom up, rather than pathlib's rglob and a stat per path: this runs after
        # every package build, and the pathlib walk was 2 % of the worker's CPU.
        deleted = 0
        for folder, _, files in os.walk(self._path(prefix.rstrip("/")), topdown=False):
            for name in files:
                os.unlink(os.path.join(folder, name))
                deleted += 0 if name.endswith(".partial") else 1
            os.rmdir(folder)
        return deleted


def storage_from_settings(settings: Settings) -> PackageStorage:
    """The backend DSR_PACKAGE_STORAGE names: `local` (DSR_PACKAGE_DIR) or `s3`."""
    if settings.package_storage == "s3":
        from orchestrator.package._s3 import S3Storage  # boto3 only when S3 is used

        return S3Storage(
            settings.package_s3_bucket,
            prefix=settings.package_s3_prefix,
            endpoint=settings.package_s3_endpoint,
            region=settings.package_s3_region,
            access_key_id=settings.package_s3_access_key_id,
            secret_access_key=settings.package_s3_secret_access_key.get_secret_value(),
            server_side_encryption=settings.package_s3_server_side_encryption or None,
        )
    text = str(settings.package_dir)
    if text.startswith("s3:/"):
        raise StorageUnavailable(
            "DSR_PACKAGE_DIR is a directory; for S3 set DSR_PACKAGE_STORAGE=s3 and "
            "DSR_PACKAGE_S3_BUCKET (and DSR_PACKAGE_S3_PREFIX)"
        )
    return FilesystemStorage(Path(text))
