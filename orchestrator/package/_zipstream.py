"""Hash the files of a package archive as its plaintext streams past: no file, no seek.

Why not zipfile: it reads the central directory at the end of the archive, so it needs a
seekable file, which here would mean a plaintext copy of the archive on disk or the whole of
it in memory. The builder (`_builder`) writes into an unseekable output, so each local header
is followed by the data and then a data descriptor (CRC and sizes) — front to back, which is
all `EntryDigests` follows; it stops at the central directory. A stored entry's header says
nothing of its length, so the expected sizes (the manifest's) are given, and the descriptor
that must follow exactly there, with the CRC and size of what was read, confirms them; a
deflated entry ends where its deflate stream does. Anything else (another method, encryption,
a name not expected or twice, a truncated entry, a CRC or size that disagrees) is
`PackageCorrupt`: this is for trusting a stored package, not for reading any ZIP file.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.package._crypto import PackageCorrupt

__all__ = ["EntryDigest", "EntryDigests"]

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_END = b"PK\x05\x06"
_DESCRIPTOR = b"PK\x07\x08"
# signature, version, flags, method, time, date, crc32, compressed, size, name len, extra len
_HEADER = struct.Struct("<4sHHHHHIIIHH")
_FLAG_ENCRYPTED = 0x01
_FLAG_DESCRIPTOR = 0x08
_FLAG_UTF8 = 0x800
_STORED = 0
_DEFLATED = 8
_ZIP64_EXTRA = 0x0001
_OUTPUT_STEP = 1 << 20  # bounds the plaintext inflated at once, however well it compressed


@dataclass(frozen=True)
class EntryDigest:
    path: str
    sha256: str
    size_bytes: int


class _Open:
    """The entry being read: inflated (deflated) or counted off (stored)."""

    def __init__(
        self, path: str, flags: int, method: int, crc: int, size: int, zip64: bool, length: int
    ) -> None:
        self.path = path
        self.descriptor = bool(flags & _FLAG_DESCRIPTOR)
        self.expected = (crc, size)  # from the local header; unused when a descriptor follows
        self.zip64 = zip64
        self.inflater = zlib.decompressobj(-zlib.MAX_WBITS) if method == _DEFLATED else None
        self.remaining = length  # stored: the bytes still to read
        self.digest = hashlib.sha256()
        self.crc = 0
        self.size = 0

    @property
    def complete(self) -> bool:
        return self.inflater.eof if self.inflater is not None else self.remaining == 0

    def update(self, data: bytes) -> None:
        self.digest.update(data)
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)


class EntryDigests:
    """Feed the archive's plaintext in any pieces; `finish()` gives every entry's digest.

    `sizes`: every path the archive may hold, with its plaintext size."""

    def __init__(self, sizes: Mapping[str, int]) -> None:
        self._sizes = dict(sizes)
        self._buffer = bytearray()
        self._entry: _Open | None = None
        self._ended = False
        self._entries: dict[str, EntryDigest] = {}

    def feed(self, data: bytes) -> None:
        if self._ended:
            return  # the central directory and end record: nothing more to hash
        self._buffer += data
        while not self._ended and self._step():
            pass

    def finish(self) -> dict[str, EntryDigest]:
        if not self._ended:
            raise PackageCorrupt("the archive ends inside an entry")
        return dict(self._entries)

    def _step(self) -> bool:
        """Advance by one header, one piece of data or one descriptor; False: needs more."""
        if self._entry is None:
            return self._header()
        if not self._entry.complete:
            return self._read(self._entry)
        return self._descriptor(self._entry)

    def _header(self) -> bool:
        buffer = self._buffer
        if len(buffer) < 4:
            return False
        signature = bytes(buffer[:4])
        if signature in (_CENTRAL, _END):
            self._ended = True
            buffer.clear()
            return False
        if signature != _LOCAL:
            raise PackageCorrupt("the archive holds something other than ZIP entries")
        if len(buffer) < _HEADER.size:
            return False
        _, _, flags, method, _, _, crc, _, size, name_len, extra_len = _HEADER.unpack_from(buffer)
        end = _HEADER.size + name_len + extra_len
        if len(buffer) < end:
            return False
        if method not in (_STORED, _DEFLATED) or flags & _FLAG_ENCRYPTED:
            raise PackageCorrupt("an archive entry is not written the way packages are")
        raw = bytes(buffer[_HEADER.size : _HEADER.size + name_len])
        path = raw.decode("utf-8" if flags & _FLAG_UTF8 else "cp437")
        if path not in self._sizes:
            raise PackageCorrupt(f"the archive holds {path!r}, which it should not")
        if path in self._entries:
            raise PackageCorrupt(f"the archive holds {path!r} twice")
        extra = bytes(buffer[_HEADER.size + name_len : end])
        self._entry = _Open(
            path, flags, method, crc, size, _has_zip64(extra), length=self._sizes[path]
        )
        del buffer[:end]
        return True

    def _read(self, entry: _Open) -> bool:
        if entry.inflater is None:
            taken = bytes(self._buffer[: entry.remaining])
            del self._buffer[: len(taken)]
            entry.update(taken)
            entry.remaining -= len(taken)
            return entry.remaining == 0
        data = bytes(self._buffer)
        self._buffer.clear()
        while data and not entry.inflater.eof:
            entry.update(entry.inflater.decompress(data, _OUTPUT_STEP))
            data = entry.inflater.unconsumed_tail
        if not entry.inflater.eof:
            return False
        self._buffer += entry.inflater.unused_data
        return True

    def _descriptor(self, entry: _Open) -> bool:
        buffer = self._buffer
        if entry.descriptor:
            if len(buffer) < 4:
                return False
            signed = bytes(buffer[:4]) == _DESCRIPTOR
            fields = struct.Struct("<IQQ" if entry.zip64 else "<III")
            length = fields.size + (4 if signed else 0)
            if len(buffer) < length:
                return False
            crc, _, size = fields.unpack_from(buffer, 4 if signed else 0)
            del buffer[:length]
        else:
            crc, size = entry.expected
        if (crc, size) != (entry.crc, entry.size):
            raise PackageCorrupt(f"{entry.path} does not match its CRC or size in the archive")
        self._entries[entry.path] = EntryDigest(entry.path, entry.digest.hexdigest(), entry.size)
        self._entry = None
        return True


def _has_zip64(extra: bytes) -> bool:
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, at)
        if kind == _ZIP64_EXTRA:
            return True
        at += 4 + length
    return False
