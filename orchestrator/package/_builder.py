"""Assemble a request's access package from the systems' encrypted parts — streamed end to end.

The archive is a ZIP written straight into a `StreamSealer` (zipfile supports unseekable
output: each entry is followed by a data descriptor), whose ciphertext goes straight to the
storage backend. Per system and category it holds `<system>/<category>.json` (a JSON array)
and `<system>/<category>.csv` (one row per record; nested values as JSON), the Art. 15
information in the request's locale (`information_<locale>.md`) and `manifest.json` (sha256
and size of every other file). The manifest is also stored on its own, sealed with the same
key, so `dsr package show` need not decrypt the archive.

Each part is read twice, decrypting as it goes (once for the JSON file while learning the CSV
columns, once for the CSV rows), so memory stays flat however much a subject has.
Portability (Art. 20) packages only the categories the policy marks `portable`; the manifest's
`excluded` names, per system, those held but left out (the call's `excluded`: the plan
skipped them, so the export wrote none).

A build needs every part its call counts. If one is gone (deleted after an earlier attempt of
this build was recorded, see `_service`), nothing is rebuilt: the package that attempt
committed is verified and returned (`_committed`), or `PartsMissing` is raised — never a
smaller package in its place. The parts themselves are not deleted here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta

from orchestrator.datakeys import DataKeyRing
from orchestrator.package._committed import committed_package
from orchestrator.package._crypto import StreamOpener, StreamSealer
from orchestrator.package._parts import (
    ARCHIVE_NAME,
    MANIFEST_NAME,
    archive_key,
    manifest_key,
    part_key,
    part_name,
    parts_prefix,
)
from orchestrator.package._storage import ObjectWriter, PackageStorage
from policy.information import art15_information, information_file_name
from policy.model import Policy
from schemas.package import PackageBuild, PackageFile, PackageManifest, PackageRef

__all__ = [
    "ARCHIVE_NAME",
    "MANIFEST_NAME",
    "archive_key",
    "build_package",
    "counted_categories",
    "manifest_key",
]


class _SealedOutput(io.RawIOBase):
    """The file zipfile writes to: encrypts into a buffer the async side drains to storage."""

    def __init__(self, sealer: StreamSealer) -> None:
        self._sealer = sealer
        self.pending = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.pending += self._sealer.seal(bytes(data))
        return len(data)

    def finish(self) -> None:
        self.pending += self._sealer.finish()


class _Drain:
    """Moves ciphertext from the sealed output to storage, hashing what is stored."""

    def __init__(self, output: _SealedOutput, writer: ObjectWriter) -> None:
        self._output = output
        self._writer = writer
        self.digest = hashlib.sha256()
        self.size = 0

    async def __call__(self, *, at_least: int = 256 * 1024) -> None:
        if len(self._output.pending) >= at_least:
            chunk = bytes(self._output.pending)
            self._output.pending.clear()
            self.digest.update(chunk)
            self.size += len(chunk)
            await self._writer.write(chunk)


async def _records(
    storage: PackageStorage, key: bytes, request_id: str, system: str, category: str
) -> AsyncIterator[dict[str, object]]:
    opener = StreamOpener(key, request_id=request_id, name=part_name(system, category))
    tail = b""
    async for chunk in storage.read(part_key(request_id, system, category)):
        data = tail + opener.feed(chunk)
        *lines, tail = data.split(b"\n")
        for line in lines:
            if line:
                yield json.loads(line)
    opener.finish()
    if tail.strip():
        yield json.loads(tail)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


class _Entry:
    """One file of the archive being written: hashes its plaintext for the manifest."""

    def __init__(self, archive: zipfile.ZipFile, path: str) -> None:
        self.path = path
        self._handle = archive.open(zipfile.ZipInfo(path, date_time=(2000, 1, 1, 0, 0, 0)), "w")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self.digest.update(data)
        self.size += len(data)

    def close(self, **described: object) -> PackageFile:
        self._handle.close()
        return PackageFile(
            path=self.path,
            sha256=self.digest.hexdigest(),
            size_bytes=self.size,
            **described,
        )


def counted_categories(call: PackageBuild) -> set[tuple[str, str]]:
    """Every (system, category) the call reports records for: each has a part to package."""
    return {(s.system, c) for s in call.systems for c, n in s.counts.items() if n}


async def build_package(
    call: PackageBuild, policy: Policy, storage: PackageStorage, keys: DataKeyRing
) -> tuple[PackageRef, PackageManifest]:
    """Build (or rebuild: idempotent) the request's encrypted package and its sealed manifest
    from the systems' parts; if a part the call counts is gone, the package an earlier attempt
    of this same build committed, verified (`_committed`), or `PartsMissing`. The parts are
    left for the caller to delete once the package is recorded."""
    request_id = call.request_id
    package_key = (await keys.keys_for(request_id, create=True)).package
    expires_at = call.created_at + timedelta(days=policy.package_expiry_days)
    portable_only = call.kind == "portability"
    stored = set(await storage.list(parts_prefix(request_id)))
    counted = counted_categories(call)
    if any(part_key(request_id, system, category) not in stored for system, category in counted):
        return await committed_package(call, counted, storage, package_key)

    sealer = StreamSealer(package_key, request_id, ARCHIVE_NAME)
    output = _SealedOutput(sealer)
    writer = await storage.open_writer(archive_key(request_id))
    drain = _Drain(output, writer)
    files: list[PackageFile] = []
    excluded: dict[str, list[str]] = {}
    held: dict[str, list[str]] = {}
    try:
        # ZIP_DEFLATED: smaller ciphertext; strict_timestamps off, fixed dates (no clock).
        with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for system in sorted(call.systems, key=lambda s: s.system):
                held[system.system] = []
                # Held but left out: what the plan skipped (the export wrote none of it) and,
                # for portability, any counted category the policy does not mark portable.
                left_out = set(system.excluded)
                for category in sorted(c for c, n in system.counts.items() if n):
                    if portable_only and not (
                        policy.covers(system.system, category)
                        and policy.category(system.system, category).portable
                    ):
                        left_out.add(category)
                        continue
                    held[system.system].append(category)
                    files += await _write_category(
                        archive, storage, package_key, request_id, system.system, category, drain
                    )
                if left_out:
                    excluded[system.system] = sorted(left_out)
            document = art15_information(
                policy,
                call.locale,
                request_id=request_id,
                kind=call.kind,
                created=call.created_at.isoformat(timespec="seconds"),
                held=held,
            ).encode()
            entry = _Entry(archive, information_file_name(call.locale))
            entry.write(document)
            files.append(entry.close(media_type="text/markdown; charset=utf-8"))
            manifest = PackageManifest(
                request_id=request_id,
                kind=call.kind,
                locale=call.locale,
                created_at=call.created_at,
                expires_at=expires_at,
                policy_version=policy.version,
                files=files,
                excluded=excluded,
            )
            manifest_bytes = manifest.model_dump_json(indent=2).encode()
            entry = _Entry(archive, MANIFEST_NAME)
            entry.write(manifest_bytes)
            entry.close(media_type="application/json")
        output.finish()
        await drain(at_least=0)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise

    manifest_sealer = StreamSealer(package_key, request_id, MANIFEST_NAME)
    manifest_writer = await storage.open_writer(manifest_key(request_id))
    try:
        await manifest_writer.write(manifest_sealer.seal(manifest_bytes) + manifest_sealer.finish())
        await manifest_writer.commit()
    except BaseException:
        await manifest_writer.abort()
        raise

    ref = PackageRef(
        request_id=request_id,
        location=archive_key(request_id),
        created_at=call.created_at,
        expires_at=expires_at,
        size_bytes=drain.size,
        sha256=drain.digest.hexdigest(),
        files=len(files) + 1,
    )
    return ref, manifest


async def _write_category(
    archive: zipfile.ZipFile,
    storage: PackageStorage,
    key: bytes,
    request_id: str,
    system: str,
    category: str,
    drain: _Drain,
) -> list[PackageFile]:
    columns: dict[str, None] = {}
    records = 0
    entry = _Entry(archive, f"{system}/{category}.json")
    entry.write(b"[")
    async for record in _records(storage, key, request_id, system, category):
        entry.write(
            (b",\n  " if records else b"\n  ")
            + json.dumps(record, ensure_ascii=False, default=str).encode()
        )
        columns.update(dict.fromkeys(record))
        records += 1
        await drain()
    entry.write(b"\n]\n" if records else b"]\n")
    described = {"system": system, "category": category, "records": records}
    json_file = entry.close(media_type="application/json", **described)

    entry = _Entry(archive, f"{system}/{category}.csv")
    header = list(columns)
    line = io.StringIO()
    rows = csv.writer(line, lineterminator="\r\n")
    rows.writerow(header)
    async for record in _records(storage, key, request_id, system, category):
        rows.writerow([_cell(record.get(column)) for column in header])
        entry.write(line.getvalue().encode())
        line.seek(0)
        line.truncate()
        await drain()
    entry.write(line.getvalue().encode())
    csv_file = entry.close(media_type="text/csv; charset=utf-8", **described)
    return [json_file, csv_file]
