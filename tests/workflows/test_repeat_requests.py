"""The repeat check (orchestrator.check_repeat, on the real SQLite store): a copy request is held
for the DPO as a repeat only after an earlier request of the same kind by the same subject.

The policy's once-a-year rule is about access copies ("Rätt till tillgång ... du har rätt till
att be om dessa en gång per år"); portability (Art. 20) is another right, and a first
portability request after an access request — or the reverse — is no repeat of anything: held
as one, the subject waited for a DPO's decision on a request nobody may refuse as excessive
(Art. 12(5)) for that reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.store import Store
from schemas.events import RequestKind
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef
from schemas.workflow import RepeatCheck
from workflows.activities import OrchestratorActivities

EARLIER = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)  # well inside the policy's 12 months


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}") as opened:
        yield opened


def _subject(*pairs: tuple[IdentifierType, str]) -> SubjectRef:
    return SubjectRef(identifiers=tuple(Identifier(type=t, value=v) for t, v in pairs))


async def _check(
    bookkeeping: OrchestratorActivities,
    request_id: str,
    kind: RequestKind,
    received_at: datetime,
    subject: SubjectRef,
) -> list[str]:
    result = await bookkeeping.check_repeat(
        RepeatCheck(
            request_id=request_id,
            kind=kind.value,
            received_at=received_at,
            since=received_at.replace(year=received_at.year - 1),
            subject=subject,
        )
    )
    return result.earlier_request_ids


@pytest.mark.parametrize(
    ("earlier", "later", "repeat"),
    [
        (RequestKind.ACCESS, RequestKind.PORTABILITY, False),
        (RequestKind.PORTABILITY, RequestKind.ACCESS, False),
        (RequestKind.ACCESS, RequestKind.ACCESS, True),
        (RequestKind.PORTABILITY, RequestKind.PORTABILITY, True),
    ],
    ids=[
        "portability-after-access",
        "access-after-portability",
        "access-twice",
        "portability-twice",
    ],
)
async def test_only_an_earlier_request_of_the_same_kind_is_a_repeat(
    store: Store, earlier: RequestKind, later: RequestKind, *, repeat: bool
) -> None:
    """The same person both times (the second request also brings a customer number: the
    fingerprints of the e-mail address still match), so only the kinds decide."""
    bookkeeping = OrchestratorActivities(
        store,
        publisher=None,  # type: ignore[arg-type]  # check_repeat publishes nothing
        connectors=[],
        subject_hash_key=b"k" * 32,
    )
    email = (IdentifierType.EMAIL, "anna.lindqvist@example.se")
    first = await _check(bookkeeping, "req-first-0001", earlier, EARLIER, _subject(email))
    assert first == []
    second = await _check(
        bookkeeping,
        "req-second-0001",
        later,
        LATER,
        _subject(email, (IdentifierType.CUSTOMER_NUMBER, "C-100234")),
    )
    assert second == (["req-first-0001"] if repeat else [])
