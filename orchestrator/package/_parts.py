"""The connectors' export sink: records are encrypted where they are written.

Why parts, then an archive (rather than one encrypted container written by everyone): connector
activities run on their own task queues, possibly on other machines, in parallel; each streams
its records into its own encrypted part, one per data category
(`requests/<id>/parts/<system>/<category>.jsonl.enc`), sealed with the request's package key
before a byte leaves the process. The orchestrator's packaging activity then reads the parts,
assembles the archive (also streamed, also encrypted) and, once the package is recorded, deletes
them (`_service`; a retried build that finds them gone gets that package back: `_committed`).
No plaintext file exists at any point, not even in a work directory; the only plaintext is the
record in memory while it is being written. A retried export first removes the system's earlier
parts.
"""

from __future__ import annotations

import hashlib
import json
import re

from orchestrator.datakeys import DataKeyRing
from orchestrator.package._crypto import StreamSealer
from orchestrator.package._storage import ObjectWriter, PackageStorage
from schemas.status import ExportArtifact

__all__ = [
    "ARCHIVE_NAME",
    "MANIFEST_NAME",
    "EncryptedExportParts",
    "EncryptedPartSink",
    "archive_key",
    "manifest_key",
    "part_key",
    "parts_prefix",
    "request_prefix",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_FLUSH_AT = 256 * 1024

# A request's objects: its parts (below), and the package built from them (`_builder`).
ARCHIVE_NAME = "package.zip"
MANIFEST_NAME = "manifest.json"


def request_prefix(request_id: str) -> str:
    return f"requests/{request_id}"


def archive_key(request_id: str) -> str:
    return f"{request_prefix(request_id)}/{ARCHIVE_NAME}.enc"


def manifest_key(request_id: str) -> str:
    return f"{request_prefix(request_id)}/{MANIFEST_NAME}.enc"


def parts_prefix(request_id: str, system: str | None = None) -> str:
    base = f"{request_prefix(request_id)}/parts"
    return base if system is None else f"{base}/{system}"


def part_key(request_id: str, system: str, category: str) -> str:
    for value in (system, category):
        if not _NAME.match(value):
            raise ValueError(f"not a system or category name usable in a package: {value!r}")
    return f"{parts_prefix(request_id, system)}/{category}.jsonl.enc"


def part_name(system: str, category: str) -> str:
    """The name sealed into a part's header (a part cannot stand in for another)."""
    return f"part:{system}/{category}"


def record_line(record: dict[str, object]) -> bytes:
    return json.dumps(record, ensure_ascii=False, default=str).encode() + b"\n"


class _Part:
    def __init__(self, sealer: StreamSealer, writer: ObjectWriter) -> None:
        self.sealer = sealer
        self.writer = writer
        self.pending = bytearray()
        self.digest = hashlib.sha256()
        self.size = 0
        self.records = 0

    async def emit(self, data: bytes, *, force: bool = False) -> None:
        self.pending += data
        if self.pending and (force or len(self.pending) >= _FLUSH_AT):
            chunk = bytes(self.pending)
            self.pending.clear()
            self.digest.update(chunk)
            self.size += len(chunk)
            await self.writer.write(chunk)


class EncryptedPartSink:
    """An `ExportSink` for one system of one request: one encrypted part per category."""

    def __init__(
        self, storage: PackageStorage, package_key: bytes, request_id: str, system: str
    ) -> None:
        self._storage = storage
        self._key = package_key
        self._request_id = request_id
        self._system = system
        self._parts: dict[str, _Part] = {}

    async def write(self, category: str, record: dict[str, object]) -> None:
        part = self._parts.get(category)
        if part is None:
            key = part_key(self._request_id, self._system, category)
            sealer = StreamSealer(self._key, self._request_id, part_name(self._system, category))
            part = _Part(sealer, await self._storage.open_writer(key))
            self._parts[category] = part
        await part.emit(part.sealer.seal(record_line(record)))
        part.records += 1

    async def finish(self) -> ExportArtifact:
        """Seal and commit every part; the artifact references them (digest over ciphertext)."""
        combined = hashlib.sha256()
        size = records = 0
        for category in sorted(self._parts):
            part = self._parts[category]
            await part.emit(part.sealer.finish(), force=True)
            await part.writer.commit()
            combined.update(f"{category}:{part.digest.hexdigest()}\n".encode())
            size += part.size
            records += part.records
        return ExportArtifact(
            uri=f"dsr-parts:{parts_prefix(self._request_id, self._system)}",
            sha256=combined.hexdigest(),
            size_bytes=size,
            records=records,
        )

    async def abort(self) -> None:
        for part in self._parts.values():
            await part.writer.abort()
        self._parts.clear()


class EncryptedExportParts:
    """Opens a system's encrypting sink (the `ExportSinks` the connector activities get)."""

    def __init__(self, storage: PackageStorage, keys: DataKeyRing) -> None:
        self._storage = storage
        self._keys = keys

    async def open(self, request_id: str, system: str) -> EncryptedPartSink:
        keys = await self._keys.keys_for(request_id, create=True)
        # A retried export starts clean: parts of an earlier attempt are removed first.
        await self._storage.delete_prefix(parts_prefix(request_id, system))
        return EncryptedPartSink(self._storage, keys.package, request_id, system)
