"""Helpers for connector tests that do not need pytest: subjects, discovery, dead addresses."""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from connectors.base import Connector
from schemas.identifiers import IdentifierType
from schemas.subject import SubjectRef

__all__ = [
    "KnownSubject",
    "dead_tcp_address",
    "discover",
    "exception_text",
    "leaked_values",
    "personal_values",
]


@dataclass(frozen=True)
class KnownSubject:
    """A subject present in the system under test, and the record counts locate must report.

    `expected_counts` maps category names to counts; categories left out are not checked.
    """

    subject: SubjectRef
    expected_counts: Mapping[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:  # SubjectRef's repr is already free of personal data
        return f"KnownSubject({self.subject!r}, {dict(self.expected_counts)})"


async def discover(connector: Connector, subject: SubjectRef, rounds: int = 5) -> SubjectRef:
    """What the workflow's discovery step does for one system: locate, add the identifiers
    learned, and locate again until nothing new turns up (or the subject is ambiguous)."""
    for _ in range(rounds):
        result = await connector.locate(subject)
        if result.ambiguous:
            return subject
        merged = subject.merged(result.learned)
        if merged.identifiers == subject.identifiers:
            return subject
        subject = merged
    return subject


def personal_values(
    subject: SubjectRef, *, except_types: Iterable[IdentifierType] = ()
) -> list[str]:
    """The subject's identifier values and name: text that must never show up in messages."""
    skip = set(except_types)
    values = [i.value for i in subject.identifiers if i.type not in skip]
    if subject.name:
        values.append(subject.name)
    return [v for v in values if v]


def leaked_values(text: str, values: Iterable[str]) -> list[str]:
    """Which of `values` occur in `text` (case-insensitively). Returns the values, so callers
    should report only how many leaked, never print the list."""
    lowered = text.lower()
    return [v for v in values if v.lower() in lowered]


def exception_text(exc: BaseException) -> str:
    """The whole rendered exception, with its cause and context chain: what would reach a log."""
    return "".join(traceback.format_exception(exc))


def dead_tcp_address(host: str = "127.0.0.1") -> tuple[str, int]:
    """A local address nothing listens on (connections to it are refused at once).

    The port was free a moment ago; another process could take it, but nothing binds ports in
    the range the kernel hands out for ephemeral use on purpose.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return host, port
