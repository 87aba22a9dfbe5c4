"""Where encrypted package files live: a small storage interface and its filesystem backend.

Only ciphertext ever passes through a storage backend (see `_crypto`), so the backend needs no
trust: a shared filesystem, or an S3-compatible bucket behind the same interface.

Keys are `/`-separated relative names (`requests/<request id>/package.zip.enc`). The filesystem
backend keeps them under DSR_PACKAGE_DIR in owner-only directories (0700) and files (0600),
writes each object to a temporary name and renames it on commit (a retried activity never sees
half a file), and fsyncs before the rename.

S3-compatible storage (a DSR_PACKAGE_DIR of `s3://bucket/prefix`) is not built in: it needs an
S3 client (aiobotocore/boto3), which is not a dependency of this project. A backend implements
`PackageStorage` (put via `open_writer`, streamed `read`, `delete_prefix`, `list`, `exists`);
`storage_from_setting` is where it would be chosen.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

__all__ = [
    "FilesystemStorage",
    "ObjectWriter",
    "PackageStorage",
    "StorageUnavailable",
    "storage_from_setting",
]

_KEY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_READ_CHUNK = 256 * 1024


class StorageUnavailable(Exception):
    """The configured package storage cannot be used (unsupported scheme, missing client)."""


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


def _check(key: str) -> str:
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"not a storage key: {key!r}")
    return key


class _FileWriter:
    def __init__(self, final: Path) -> None:
        self._final = final
        self._tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.partial")
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file = os.fdopen(fd, "wb")

    async def write(self, data: bytes) -> None:
        self._file.write(data)

    async def commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self._final)

    async def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


class FilesystemStorage:
    """Package storage in a local or shared directory (DSR_PACKAGE_DIR)."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check(key).split("/"))

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
            raise FileNotFoundError(f"no package object {key!r}") from None
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
        base = self._path(prefix.rstrip("/"))
        if not base.exists():
            return 0
        deleted = 0
        for path in sorted(base.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
                deleted += 0 if path.name.endswith(".partial") else 1
        base.rmdir()
        return deleted


def storage_from_setting(package_dir: Path | str) -> PackageStorage:
    """The backend for DSR_PACKAGE_DIR: a directory; `s3://…` is a documented gap (see above)."""
    text = str(package_dir)
    if text.startswith("s3:/"):
        raise StorageUnavailable(
            "DSR_PACKAGE_DIR=s3://… needs an S3 client (aiobotocore/boto3), which this "
            "installation does not include; use a directory (a shared filesystem works across "
            "machines) or add an S3 backend implementing PackageStorage"
        )
    return FilesystemStorage(Path(text))
