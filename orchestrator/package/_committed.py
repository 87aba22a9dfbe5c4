"""The package already committed for a build stands in for a rebuild whose parts are gone.

Why: the systems' parts are deleted once the package is recorded (`_service`), yet the
packaging activity goes on after that (the expiry timer, the audit) and a worker can die
anywhere, even halfway through deleting them; Temporal then retries the same build with the
same call. Rebuilding from what is left would overwrite the subject's package with a smaller
one (at worst only the Art. 15 text) and nobody would notice. So when a part the call counts
is missing, the stored package is returned instead: if, and only if, its manifest is of this
very build (request, kind, locale, created_at — `created_at` is the workflow's clock when it
asked, the same for every attempt and different for any later build), accounts for every
category the call counts, and the archive, decrypted as it streams, holds exactly the
manifest's files with the manifest's digests. Otherwise `PartsMissing`, and nothing is
written: a package of another build stays as it was rather than being replaced by less.
"""

from __future__ import annotations

import hashlib

from orchestrator.package._crypto import PackageCorrupt, StreamOpener
from orchestrator.package._parts import ARCHIVE_NAME, MANIFEST_NAME, archive_key, manifest_key
from orchestrator.package._storage import PackageStorage
from orchestrator.package._zipstream import EntryDigests
from schemas.package import PackageBuild, PackageManifest, PackageRef

__all__ = ["PartsMissing", "committed_package", "manifest_plaintext"]


class PartsMissing(Exception):
    """Parts the build counts are gone and no committed package of this build can stand in:
    building now would give the subject less than the systems exported. Retrying cannot help;
    the systems must export again (a retried export writes new parts)."""


async def manifest_plaintext(request_id: str, storage: PackageStorage, package_key: bytes) -> bytes:
    """The stored manifest, decrypted: the exact bytes sealed (and also put in the archive)."""
    opener = StreamOpener(package_key, request_id=request_id, name=MANIFEST_NAME)
    plain = bytearray()
    async for chunk in storage.read(manifest_key(request_id)):
        plain += opener.feed(chunk)
    opener.finish()
    return bytes(plain)


async def committed_package(
    call: PackageBuild,
    counted: set[tuple[str, str]],
    storage: PackageStorage,
    package_key: bytes,
) -> tuple[PackageRef, PackageManifest]:
    """The stored package of this build, verified (see the module), as `build_package` would
    have returned it; `counted` is every (system, category) the call has records for."""
    request_id = call.request_id
    try:
        plain = await manifest_plaintext(request_id, storage, package_key)
    except FileNotFoundError:
        raise PartsMissing(
            f"export parts of {request_id} are missing and no package of it is stored"
        ) from None
    except PackageCorrupt as error:
        raise PartsMissing(
            f"export parts of {request_id} are missing and its stored manifest does not "
            f"decrypt ({error})"
        ) from None
    manifest = PackageManifest.model_validate_json(plain)
    build = (call.request_id, call.kind, call.locale, call.created_at)
    if (manifest.request_id, manifest.kind, manifest.locale, manifest.created_at) != build:
        raise PartsMissing(
            f"export parts of {request_id} are missing and its stored package is of another "
            f"build ({manifest.kind}, {manifest.locale}, {manifest.created_at.isoformat()})"
        )
    covered = {(f.system, f.category) for f in manifest.files if f.system and f.category}
    covered |= {(s, c) for s, categories in manifest.excluded.items() for c in categories}
    if not counted <= covered:
        absent = ", ".join(f"{s}/{c}" for s, c in sorted(counted - covered))
        raise PartsMissing(
            f"export parts of {request_id} are missing and its stored package lacks {absent}"
        )
    try:
        size, sha256 = await _verify_archive(request_id, storage, package_key, manifest, plain)
    except (FileNotFoundError, PackageCorrupt) as error:
        raise PartsMissing(
            f"export parts of {request_id} are missing and its stored package does not verify "
            f"against its manifest ({error})"
        ) from None
    ref = PackageRef(
        request_id=request_id,
        location=archive_key(request_id),
        created_at=manifest.created_at,
        expires_at=manifest.expires_at,
        size_bytes=size,
        sha256=sha256,
        files=len(manifest.files) + 1,
    )
    return ref, manifest


async def _verify_archive(
    request_id: str,
    storage: PackageStorage,
    package_key: bytes,
    manifest: PackageManifest,
    manifest_bytes: bytes,
) -> tuple[int, str]:
    """Decrypt the stored archive as it streams and check every entry against the manifest;
    returns the ciphertext's size and sha256 (what a `PackageRef` holds)."""
    expected = {f.path: (f.sha256, f.size_bytes) for f in manifest.files}
    expected[MANIFEST_NAME] = (hashlib.sha256(manifest_bytes).hexdigest(), len(manifest_bytes))
    opener = StreamOpener(package_key, request_id=request_id, name=ARCHIVE_NAME)
    entries = EntryDigests({path: size for path, (_, size) in expected.items()})
    digest = hashlib.sha256()
    size = 0
    async for chunk in storage.read(archive_key(request_id)):
        digest.update(chunk)
        size += len(chunk)
        entries.feed(opener.feed(chunk))
    opener.finish()
    found = entries.finish()
    if set(found) != set(expected):
        raise PackageCorrupt("the archive's files are not the manifest's")
    for path, (sha256, length) in expected.items():
        if (found[path].sha256, found[path].size_bytes) != (sha256, length):
            raise PackageCorrupt(f"{path} does not match the manifest")
    return size, digest.hexdigest()
