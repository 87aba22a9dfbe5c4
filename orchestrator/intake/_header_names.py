"""Header names that are not UTF-8, for the intake's consumers (faust-free, so the worker's
reconciler can use it without importing faust).

Kafka's protocol calls a header name a string, but brokers pass on any bytes, and aiokafka
decodes each name with a strict `.decode("utf-8")` while it unpacks a fetched batch. One record
whose header name is not UTF-8 made every fetch of its partition raise UnicodeDecodeError at
that position: faust logged "Fetcher Crashed" and exited, and the intake restart-looped on it.

A consumer started under `lenient_header_names()` (the intake's faust consumer, see
`_transport`; `LenientHeaderConsumer` for anyone else reading the requests topic, such as the
reconciler) unpacks record batches with aiokafka's pure-Python parser and decodes such a name
with `errors="surrogateescape"`: the record reaches the handler, which refuses it with a reason
(`_validation.check_header_names`) and seals what it can, instead of stalling the partition. The
pure-Python parser is slower than aiokafka's Cython one, which does not matter at the intake's
rate (bounded by Temporal's starts, tens per second). Every other consumer in the process keeps
aiokafka's own parser: the switch is a context variable, inherited by the fetch tasks a
consumer creates when it starts.

aiokafka (0.14.0) is pinned exactly in pyproject.toml: this reaches into its fetcher (the
`MemoryRecords` it builds each fetched partition's records with; checked at import) and its
pure-Python record parser; `tests/intake/test_poison_records_e2e.py` fails if either changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, SupportsIndex, overload

import aiokafka
from aiokafka.consumer import fetcher as _aiokafka_fetcher
from aiokafka.record import default_records as _default_records
from aiokafka.record import memory_records as _memory_records
from aiokafka.record.legacy_records import LegacyRecordBatch

__all__ = ["LenientHeaderConsumer", "lenient_header_names"]

_LENIENT_HEADER_NAMES: ContextVar[bool] = ContextVar("dsr_lenient_header_names", default=False)


@contextlib.contextmanager
def lenient_header_names() -> Iterator[None]:
    """Start an aiokafka consumer inside this block and it decodes header names leniently (see
    the module): its fetcher's tasks are created at start and keep the context they had."""
    token = _LENIENT_HEADER_NAMES.set(True)
    try:
        yield
    finally:
        _LENIENT_HEADER_NAMES.reset(token)


class _LenientBytes(bytes):
    """A header name's bytes whose `decode` cannot fail (undecodable bytes → lone surrogates)."""

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return bytes.decode(self, encoding, "surrogateescape")


class _LenientBuffer(bytearray):
    """A batch buffer whose slices are `_LenientBytes`: aiokafka's Python parser decodes a
    header name as `buffer[start:end].decode("utf-8")`; keys and values it copies with
    `bytes(...)`, which the subclass does not change."""

    @overload
    def __getitem__(self, index: SupportsIndex) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> bytearray: ...
    def __getitem__(self, index: SupportsIndex | slice) -> int | bytearray:
        item = bytearray.__getitem__(self, index)
        if isinstance(item, bytearray):
            return _LenientBytes(item)  # type: ignore[return-value]  # has all decode needs
        return item


class _LenientRecordBatch(_default_records._DefaultRecordBatchPy):  # type: ignore[misc]
    """aiokafka's pure-Python v2 batch; a record whose header name is not UTF-8 is re-read from
    a lenient buffer (kept for the rest of the batch) instead of failing the fetch."""

    def _read_msg(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._read_msg(*args, **kwargs)
        except UnicodeDecodeError:  # only a header name is decoded; `_pos` is not advanced yet
            strict: bytearray = self._buffer  # type: ignore[has-type]  # untyped base
            self._buffer = _LenientBuffer(strict)
            return super()._read_msg(*args, **kwargs)


class _LenientMemoryRecords(_memory_records._MemoryRecordsPy):  # type: ignore[misc]
    """aiokafka's pure-Python `MemoryRecords`, handing out `_LenientRecordBatch`es."""

    def next_batch(self, *args: Any, **kwargs: Any) -> Any:
        next_slice = self._next_slice
        if next_slice is None or len(next_slice) < self.MIN_SLICE:
            return super().next_batch(*args, **kwargs)  # None, or aiokafka's own error
        self._cache_next()
        magic = next_slice[self.MAGIC_OFFSET]
        if magic >= 2:
            return _LenientRecordBatch(next_slice)
        return LegacyRecordBatch(next_slice, magic)  # v0/v1 records have no headers


_STRICT_MEMORY_RECORDS = _memory_records.MemoryRecords


def _fetched_records(data: bytes) -> Any:
    """What aiokafka's fetcher builds a fetched partition's records with: lenient for a
    consumer started under `lenient_header_names()`, aiokafka's own for every other."""
    if _LENIENT_HEADER_NAMES.get():
        return _LenientMemoryRecords(data)
    return _STRICT_MEMORY_RECORDS(data)


if getattr(_aiokafka_fetcher, "MemoryRecords", None) is not _STRICT_MEMORY_RECORDS:
    raise ImportError(  # an aiokafka upgrade moved it: better no start than a silent stall
        "aiokafka's fetcher no longer builds records with MemoryRecords: "
        "review orchestrator.intake._transport"
    )
_aiokafka_fetcher.MemoryRecords = _fetched_records


class LenientHeaderConsumer(aiokafka.AIOKafkaConsumer):  # type: ignore[misc]
    """An `AIOKafkaConsumer` that decodes header names leniently (see the module): for every
    reader of the requests topic, so a record the intake dead-letters cannot stall it."""

    async def start(self) -> None:
        with lenient_header_names():
            await super().start()
