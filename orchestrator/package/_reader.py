"""Reading a package back: its manifest (`dsr package show`) and the handover (`extract`).

Extraction is the one place plaintext is written, on purpose: into the directory the operator
names for handing the package to the subject. So it is all or nothing, and private:

- DIR must be new or empty (`HandoverDirectoryRefused` otherwise: extracting over other files
  would mix them into the handover, or silently replace them). DIR is made 0700, also when it
  existed empty.
- Everything happens first in a staging directory inside DIR (`mkdtemp`: 0700, same file
  system, so the final move is a rename): the decrypted archive (0600), then each file the
  manifest lists, written 0600 in 0700 directories while its sha256 is taken. The archive must
  hold exactly the manifest's files and a `manifest.json` equal to the stored manifest; member
  names must be plain relative paths (no absolute path, `..`, backslash or empty part), and
  files are created exclusively and without following links, so nothing lands outside staging.
- Only when every file matches are the files moved into DIR. On any error (a checksum, a bad
  name, a full disk, a failed move) staging and whatever was already moved are removed, and DIR
  itself if this call created it: a failed extraction leaves nothing in clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from orchestrator.datakeys import DataKeyRing
from orchestrator.package._committed import manifest_plaintext
from orchestrator.package._crypto import PackageCorrupt, StreamOpener
from orchestrator.package._parts import ARCHIVE_NAME, MANIFEST_NAME, archive_key
from orchestrator.package._storage import PackageStorage, check_key
from schemas.package import PackageManifest

__all__ = ["ChecksumMismatch", "HandoverDirectoryRefused", "extract_package", "read_manifest"]

_STAGING_PREFIX = ".dsr-extract-"
_COPY_CHUNK = 256 * 1024


class ChecksumMismatch(PackageCorrupt):
    """An extracted file does not match the manifest."""


class HandoverDirectoryRefused(FileExistsError):
    """The extraction target exists and is not an empty directory: nothing was written."""


async def read_manifest(
    request_id: str, storage: PackageStorage, keys: DataKeyRing
) -> PackageManifest:
    package_key = (await keys.keys_for(request_id)).package
    plain = await manifest_plaintext(request_id, storage, package_key)
    return PackageManifest.model_validate_json(plain)


class _Handover:
    """DIR and its private staging directory, for one extraction."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.created = False
        if directory.exists() or directory.is_symlink():
            if not directory.is_dir():
                raise HandoverDirectoryRefused(f"{directory} exists and is not a directory")
            if any(directory.iterdir()):
                raise HandoverDirectoryRefused(
                    f"{directory} is not empty: extract into a new or empty directory"
                )
        else:
            directory.mkdir(parents=True, mode=0o700)
            self.created = True
        try:
            os.chmod(directory, 0o700)
            self.staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=directory))
        except BaseException:
            self._remove_directory()
            raise
        self.archive = self.staging / ARCHIVE_NAME
        self._moved: list[Path] = []

    def open_archive(self) -> int:
        return os.open(self.archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)

    def complete(self, manifest: PackageManifest) -> None:
        """Unpack and verify in staging, then move into DIR; on any error, remove it all."""
        try:
            _unpack(self.archive, self.staging, manifest)
            self.archive.unlink()
            for entry in sorted(self.staging.iterdir()):
                target = self.directory / entry.name
                if target.exists() or target.is_symlink():
                    raise HandoverDirectoryRefused(f"{target} appeared during the extraction")
                entry.rename(target)
                self._moved.append(target)
            self.staging.rmdir()
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        for path in self._moved:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self._moved.clear()
        shutil.rmtree(self.staging, ignore_errors=True)
        self._remove_directory()

    def _remove_directory(self) -> None:
        if self.created:  # unless something else was put there meanwhile: not ours
            with contextlib.suppress(OSError):
                self.directory.rmdir()


def _member_path(root: Path, name: str) -> Path:
    """Where an archive member goes under `root`; PackageCorrupt for anything but a plain
    relative `/`-separated name (check_key: no absolute path, `.`, `..`, `\\` or empty part)."""
    try:
        check_key(name)
    except ValueError:
        raise PackageCorrupt(f"the archive holds a member named {name!r}") from None
    return root.joinpath(*name.split("/"))


def _private_parents(root: Path, path: Path) -> None:
    folder = root
    for part in path.relative_to(root).parts[:-1]:
        folder = folder / part
        if not folder.exists():
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask: make it exact


def _write_member(archive: zipfile.ZipFile, name: str, path: Path) -> tuple[str, int]:
    """Copy one member to a new 0600 file; its sha256 and size."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # as above: exact, whatever the umask
    with os.fdopen(fd, "wb") as out, archive.open(name) as member:
        while chunk := member.read(_COPY_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def _unpack(archive_path: Path, staging: Path, manifest: PackageManifest) -> None:
    expected = {file.path: file for file in manifest.files}
    with zipfile.ZipFile(archive_path) as archive:
        names = [info.filename for info in archive.infolist()]
        if len(names) != len(set(names)) or set(names) != {*expected, MANIFEST_NAME}:
            raise ChecksumMismatch("the archive's files are not the manifest's")
        for name in names:
            path = _member_path(staging, name)
            _private_parents(staging, path)
            sha256, size = _write_member(archive, name, path)
            file = expected.get(name)
            if file is not None and (sha256, size) != (file.sha256, file.size_bytes):
                raise ChecksumMismatch(f"{name} does not match the manifest")
        inside = PackageManifest.model_validate_json(archive.read(MANIFEST_NAME))
    if inside != manifest:
        raise ChecksumMismatch(f"{MANIFEST_NAME} in the archive is not the stored manifest")


async def extract_package(
    request_id: str, storage: PackageStorage, keys: DataKeyRing, directory: Path
) -> PackageManifest:
    """Decrypt the package into `directory` (new or empty), every file checked against the
    manifest before any of it is there; on failure nothing is left (see the module)."""
    manifest = await read_manifest(request_id, storage, keys)
    package_key = (await keys.keys_for(request_id)).package
    handover = await asyncio.to_thread(_Handover, directory)
    try:
        with os.fdopen(handover.open_archive(), "wb") as handle:
            opener = StreamOpener(package_key, request_id=request_id, name=ARCHIVE_NAME)
            async for chunk in storage.read(archive_key(request_id)):
                handle.write(opener.feed(chunk))
            opener.finish()
    except BaseException:
        handover.discard()  # synchronous: cancellation must not skip it
        raise
    # The thread cleans up after itself on failure: if this await is cancelled, the thread
    # still runs to its end, so cleaning up here could race files it is still writing.
    await asyncio.to_thread(handover.complete, manifest)
    return manifest
