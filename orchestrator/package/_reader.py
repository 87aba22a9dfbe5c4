"""Reading a package back: its manifest (`dsr package show`) and the handover (`extract`).

Extraction is the one place plaintext is written, on purpose: into the directory the operator
names for handing the package to the subject. The archive is decrypted into a 0600 file inside
that directory, unpacked, every file checked against the manifest's sha256, and the decrypted
archive removed again.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import zipfile
from pathlib import Path
from typing import BinaryIO

from orchestrator.datakeys import DataKeyRing
from orchestrator.package._builder import ARCHIVE_NAME, MANIFEST_NAME, archive_key, manifest_key
from orchestrator.package._crypto import PackageCorrupt, StreamOpener
from orchestrator.package._storage import PackageStorage
from schemas.package import PackageManifest

__all__ = ["ChecksumMismatch", "extract_package", "read_manifest"]


class ChecksumMismatch(PackageCorrupt):
    """An extracted file does not match the manifest."""


async def read_manifest(
    request_id: str, storage: PackageStorage, keys: DataKeyRing
) -> PackageManifest:
    package_key = (await keys.keys_for(request_id)).package
    opener = StreamOpener(package_key, request_id=request_id, name=MANIFEST_NAME)
    plain = bytearray()
    async for chunk in storage.read(manifest_key(request_id)):
        plain += opener.feed(chunk)
    opener.finish()
    return PackageManifest.model_validate_json(bytes(plain))


def _open_target(directory: Path, request_id: str) -> tuple[Path, BinaryIO]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f".{request_id}.{ARCHIVE_NAME}.partial"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return path, os.fdopen(fd, "wb")


def _unpack(archive_path: Path, directory: Path, manifest: PackageManifest) -> None:
    with zipfile.ZipFile(archive_path) as archive:
        archive.extractall(directory)  # zipfile refuses absolute and `..` member names
    for file in manifest.files:
        content = (directory / file.path).read_bytes()
        if hashlib.sha256(content).hexdigest() != file.sha256:
            raise ChecksumMismatch(f"{file.path} does not match the manifest")


async def extract_package(
    request_id: str, storage: PackageStorage, keys: DataKeyRing, directory: Path
) -> PackageManifest:
    """Decrypt the package into `directory` and verify every file against the manifest."""
    manifest = await read_manifest(request_id, storage, keys)
    package_key = (await keys.keys_for(request_id)).package
    archive_path, handle = await asyncio.to_thread(_open_target, directory, request_id)
    try:
        with handle:
            opener = StreamOpener(package_key, request_id=request_id, name=ARCHIVE_NAME)
            async for chunk in storage.read(archive_key(request_id)):
                handle.write(opener.feed(chunk))
            opener.finish()
        await asyncio.to_thread(_unpack, archive_path, directory, manifest)
    finally:
        archive_path.unlink(missing_ok=True)
    return manifest
