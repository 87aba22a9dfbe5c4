"""Package storage in an S3-compatible bucket (DSR_PACKAGE_STORAGE=s3), behind `PackageStorage`.

Only ciphertext reaches the bucket: the builder and the export sinks seal before they write
(see `_crypto`), so the bucket, its operator and its backups never see a subject's data. A
server-side encryption header can be asked for on top (DSR_PACKAGE_S3_SERVER_SIDE_ENCRYPTION),
but nothing relies on it.

boto3 is synchronous; each call runs in a worker thread (`asyncio.to_thread`) so the event
loop (Temporal's activity heartbeats among it) keeps running. The client is created once and
shared: boto3 clients are thread-safe.

- **Atomic commit.** A writer spools what it is given (in memory up to 1 MiB, then in an
  owner-only temporary file: ciphertext only) and uploads on `commit`; S3 makes an object
  visible only once its upload completes (a multipart upload above 8 MiB), so a retried
  activity never reads half an object. `abort` just drops the spool.
- **Compatibility.** With an endpoint set (MinIO, Ceph, Garage, s3rver…) requests use path-style
  addressing, and checksums are sent only where S3 requires them: the newer default checksum
  headers are refused by several S3-compatible servers.
- **Errors.** botocore's exceptions carry the server's error document (which can name the
  access key id) and the endpoint's reply; none of that leaves this module. A missing object is
  `ObjectMissing` (a `FileNotFoundError`, like the filesystem backend's); refused credentials
  are `StorageAccessDenied`; an unreachable endpoint or missing bucket is `StorageUnavailable`;
  anything else is `StorageFailed`. Messages name the operation, the error code and the key
  (request ids, never personal data), nothing else.
"""

from __future__ import annotations

import asyncio
import functools
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError

from orchestrator.package._storage import (
    ObjectMissing,
    ObjectWriter,
    StorageAccessDenied,
    StorageError,
    StorageFailed,
    StorageUnavailable,
    check_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

__all__ = ["S3Storage"]

_T = TypeVar("_T")
_READ_CHUNK = 256 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024
_DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
_TRANSFER = TransferConfig(multipart_threshold=8 * 1024 * 1024, use_threads=False)
_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
    "403",
}
_MISSING = {"NoSuchKey", "404", "NotFound"}
_UNAVAILABLE = {"NoSuchBucket", "PermanentRedirect", "ServiceUnavailable", "SlowDown", "503"}


def _translate(error: Exception, operation: str, key: str) -> StorageError:
    """A typed error naming the operation, the code and the key; never the server's text."""
    where = f"package storage {operation} {key!r}"
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "unknown"))
        if code in _MISSING:
            return ObjectMissing(f"no package object {key!r}")
        if code in _DENIED:
            return StorageAccessDenied(f"{where}: the S3 store refused the credentials ({code})")
        if code in _UNAVAILABLE:
            return StorageUnavailable(f"{where}: the S3 store answered {code}")
        return StorageFailed(f"{where}: the S3 store answered {code}")
    if isinstance(error, NoCredentialsError):
        return StorageAccessDenied(f"{where}: no S3 credentials configured")
    if isinstance(error, BotoConnectionError):
        return StorageUnavailable(f"{where}: the S3 endpoint cannot be reached")
    return StorageFailed(f"{where}: {type(error).__name__}")


class _S3Writer:
    """Spools one object's ciphertext and uploads it on `commit` (visible only when complete)."""

    def __init__(self, storage: S3Storage, key: str) -> None:
        self._storage = storage
        self._key = key
        self._spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by commit/abort

    async def write(self, data: bytes) -> None:
        if self._spool.tell() + len(data) > _SPOOL_IN_MEMORY:
            await asyncio.to_thread(self._spool.write, data)  # may roll over to a file
        else:
            self._spool.write(data)

    async def commit(self) -> None:
        try:
            self._spool.seek(0)
            await self._storage._upload(self._key, self._spool)
        finally:
            self._spool.close()

    async def abort(self) -> None:
        self._spool.close()


class S3Storage:
    """Package storage in `bucket` under `prefix` of an S3-compatible store."""

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        server_side_encryption: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        if not bucket:
            raise StorageUnavailable("DSR_PACKAGE_S3_BUCKET is empty: S3 package storage needs one")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        if self.prefix:
            check_key(self.prefix.rstrip("/"))
        self._extra: dict[str, str] = (
            {"ServerSideEncryption": server_side_encryption} if server_side_encryption else {}
        )
        self._client = client or self._make_client(
            endpoint, region, access_key_id, secret_access_key
        )

    @staticmethod
    def _make_client(
        endpoint: str, region: str, access_key_id: str, secret_access_key: str
    ) -> S3Client:
        config = Config(
            region_name=region or None,
            connect_timeout=10,
            read_timeout=60,
            retries={"mode": "standard", "max_attempts": 3},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path" if endpoint else "auto"},
        )
        # Empty credentials: boto3's own chain (AWS_* variables, profile, workload identity).
        credentials: dict[str, Any] = (
            {"aws_access_key_id": access_key_id, "aws_secret_access_key": secret_access_key}
            if access_key_id
            else {}
        )
        return boto3.session.Session().client(
            "s3", endpoint_url=endpoint or None, config=config, **credentials
        )

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def _call(self, operation: str, key: str, call: Callable[[], _T]) -> _T:
        try:
            return await asyncio.to_thread(call)
        except (ClientError, BotoCoreError) as error:
            raise _translate(error, operation, key) from None

    async def _upload(self, key: str, body: Any) -> None:
        name = self._name(key)
        await self._call(
            "upload",
            key,
            lambda: self._client.upload_fileobj(
                body, self.bucket, name, ExtraArgs=self._extra or None, Config=_TRANSFER
            ),
        )

    def describe(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._name(key)}"

    async def open_writer(self, key: str) -> ObjectWriter:
        check_key(key)
        return _S3Writer(self, key)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        name = self._name(key)
        response = await self._call(
            "read", key, lambda: self._client.get_object(Bucket=self.bucket, Key=name)
        )
        body = response["Body"]
        try:
            while chunk := await self._call("read", key, lambda: body.read(_READ_CHUNK)):
                yield chunk
        finally:
            body.close()

    async def exists(self, key: str) -> bool:
        name = self._name(key)
        try:
            await self._call(
                "exists", key, lambda: self._client.head_object(Bucket=self.bucket, Key=name)
            )
        except ObjectMissing:
            return False
        return True

    async def list(self, prefix: str) -> list[str]:
        base = self._name(prefix.rstrip("/")) + "/"

        def keys() -> list[str]:
            found: list[str] = []
            pages = self._client.get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=base):
                found.extend(item["Key"] for item in page.get("Contents", []) if "Key" in item)
            return found

        names = await self._call("list", prefix, keys)
        return sorted(name.removeprefix(self.prefix) for name in names)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object under `prefix`; returns how many."""
        keys = await self.list(prefix)
        for start in range(0, len(keys), _DELETE_BATCH):
            batch: list[ObjectIdentifierTypeDef] = [
                {"Key": self.prefix + k} for k in keys[start : start + _DELETE_BATCH]
            ]
            delete = functools.partial(
                self._client.delete_objects,
                Bucket=self.bucket,
                Delete={"Objects": batch, "Quiet": True},
            )
            response = await self._call("delete", prefix, delete)
            errors = response.get("Errors", [])
            if errors:
                code = str(errors[0].get("Code", "unknown"))
                raise StorageFailed(
                    f"package storage delete {prefix!r}: {len(errors)} objects not deleted ({code})"
                )
        return len(keys)
