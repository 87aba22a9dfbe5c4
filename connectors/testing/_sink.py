"""`RecordingSink`: an ExportSink for tests that keeps (or only counts) what a connector exports."""

from __future__ import annotations

import json
from collections import Counter

__all__ = ["RecordingSink"]


class RecordingSink:
    """Collects exported records per category and checks that each one is JSON-serialisable.

    `keep=False` counts without keeping records (for large exports in benchmarks). A record that
    is not a JSON object of plain values makes `write` raise `TypeError` (or `ValueError` for
    NaN/infinity), naming only the category: the record itself is personal data.
    """

    def __init__(self, *, keep: bool = True) -> None:
        self.keep = keep
        self.records: dict[str, list[dict[str, object]]] = {}
        self._counts: Counter[str] = Counter()

    async def write(self, category: str, record: dict[str, object]) -> None:
        if not isinstance(record, dict) or not all(isinstance(k, str) for k in record):
            raise TypeError(f"export record in {category!r} is not a dict with string keys")
        try:
            json.dumps(record, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"export record in {category!r} is not JSON-serialisable ({type(exc).__name__})"
            ) from None
        self._counts[category] += 1
        if self.keep:
            self.records.setdefault(category, []).append(record)

    @property
    def counts(self) -> dict[str, int]:
        """Records written per category (only categories written at least once)."""
        return dict(self._counts)

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def __repr__(self) -> str:
        return f"RecordingSink({self.counts})"
