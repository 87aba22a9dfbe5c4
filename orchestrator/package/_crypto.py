"""A streaming AEAD container for package files: encrypt as you write, never a plaintext file.

Format (all integers big-endian):

    header   b"DSRPKG1\\n" | u8 len | request id | u16 len | object name | 16-byte salt
    chunks   u32 len | AES-256-GCM(chunk)     (len = ciphertext length incl. the 16-byte tag)

Each file gets its own key, HKDF-SHA256(request package key, salt), so the nonce can be the
chunk counter (11 bytes) followed by a final-chunk flag byte (the STREAM construction of
Hoang, Reyhanitabar, Rogaway and Vizár): chunks cannot be reordered, dropped or the stream
truncated without the last chunk failing to authenticate. The header is authenticated as
associated data of every chunk, so a file cannot be passed off as another request's or
another name's. Chunks are 64 KiB: memory stays flat whatever the size of the package.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["CHUNK", "MAGIC", "PackageCorrupt", "StreamOpener", "StreamSealer"]

MAGIC = b"DSRPKG1\n"
CHUNK = 64 * 1024
_SALT = 16
_TAG = 16


class PackageCorrupt(Exception):
    """A package file that does not decrypt: tampered, truncated, or another request's."""


def _file_key(package_key: bytes, salt: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"dsr/package-file").derive(
        package_key
    )
    return AESGCM(key)


def _nonce(counter: int, final: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _header(request_id: str, name: str, salt: bytes) -> bytes:
    rid, nm = request_id.encode(), name.encode()
    return MAGIC + struct.pack(">B", len(rid)) + rid + struct.pack(">H", len(nm)) + nm + salt


class StreamSealer:
    """Encrypts a stream: `seal(data)` returns whatever ciphertext is ready, `finish()` the rest.

    The first bytes returned are the header. Synchronous and pure (no I/O): the caller writes
    the returned bytes wherever the file lives.
    """

    def __init__(self, package_key: bytes, request_id: str, name: str) -> None:
        salt = os.urandom(_SALT)
        self.header = _header(request_id, name, salt)
        self._cipher = _file_key(package_key, salt)
        self._buffer = bytearray()
        self._counter = 0
        self._started = False
        self._finished = False

    def _chunk(self, data: bytes, final: bool) -> bytes:
        sealed = self._cipher.encrypt(_nonce(self._counter, final), data, self.header)
        self._counter += 1
        return struct.pack(">I", len(sealed)) + sealed

    def seal(self, data: bytes) -> bytes:
        if self._finished:
            raise ValueError("the stream is finished")
        out = bytearray()
        if not self._started:
            out += self.header
            self._started = True
        self._buffer += data
        # Keep at least one byte back: the last chunk must be sealed as final by `finish`.
        while len(self._buffer) > CHUNK:
            out += self._chunk(bytes(self._buffer[:CHUNK]), final=False)
            del self._buffer[:CHUNK]
        return bytes(out)

    def finish(self) -> bytes:
        out = self.seal(b"")
        self._finished = True
        final = self._chunk(bytes(self._buffer), final=True)
        self._buffer.clear()
        return out + final


class StreamOpener:
    """Decrypts a stream fed in arbitrary pieces; `finish()` checks that it ended properly.

    `request_id`/`name`, when given, must match the header (a file cannot stand in for another).
    """

    def __init__(
        self, package_key: bytes, *, request_id: str | None = None, name: str | None = None
    ) -> None:
        self._key = package_key
        self._expect = (request_id, name)
        self._buffer = bytearray()
        self._header: bytes | None = None
        self._cipher: AESGCM | None = None
        self._counter = 0
        self._final_seen = False
        self.request_id: str | None = None
        self.name: str | None = None

    def _parse_header(self) -> bool:
        b = self._buffer
        if len(b) < len(MAGIC) + 1:
            return False
        if bytes(b[: len(MAGIC)]) != MAGIC:
            raise PackageCorrupt("not a package file")
        at = len(MAGIC)
        rid_len = b[at]
        at += 1
        if len(b) < at + rid_len + 2:
            return False
        request_id = bytes(b[at : at + rid_len]).decode()
        at += rid_len
        (name_len,) = struct.unpack(">H", b[at : at + 2])
        at += 2
        if len(b) < at + name_len + _SALT:
            return False
        name = bytes(b[at : at + name_len]).decode()
        at += name_len
        salt = bytes(b[at : at + _SALT])
        at += _SALT
        want_rid, want_name = self._expect
        if (want_rid is not None and want_rid != request_id) or (
            want_name is not None and want_name != name
        ):
            raise PackageCorrupt("the file belongs to another request or name")
        self._header = bytes(b[:at])
        self._cipher = _file_key(self._key, salt)
        self.request_id, self.name = request_id, name
        del b[:at]
        return True

    def feed(self, data: bytes) -> bytes:
        self._buffer += data
        if self._header is None and not self._parse_header():
            return b""
        assert self._cipher is not None
        assert self._header is not None
        out = bytearray()
        while len(self._buffer) >= 4:
            (length,) = struct.unpack(">I", self._buffer[:4])
            if length < _TAG or length > CHUNK + _TAG:
                raise PackageCorrupt("bad chunk length")
            if len(self._buffer) < 4 + length:
                break
            if self._final_seen:
                raise PackageCorrupt("data after the final chunk")
            sealed = bytes(self._buffer[4 : 4 + length])
            del self._buffer[: 4 + length]
            out += self._open(sealed)
        return bytes(out)

    def _open(self, sealed: bytes) -> bytes:
        assert self._cipher is not None
        assert self._header is not None
        for final in (False, True):
            try:
                plain = self._cipher.decrypt(_nonce(self._counter, final), sealed, self._header)
            except InvalidTag:
                continue
            self._counter += 1
            self._final_seen = final
            return plain
        raise PackageCorrupt("a chunk does not authenticate (wrong key, tampered or reordered)")

    def finish(self) -> None:
        if self._header is None or not self._final_seen or self._buffer:
            raise PackageCorrupt("the package file is truncated")
