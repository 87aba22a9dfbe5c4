"""The facts of a customer's own records: the customer row (`contact`) and its stored cards.

The running services of a customer are invoiced to its customer row and paid with its stored
cards, so the policy keeps both while the contract runs (Art. 6(1)(b); Art. 17(1)(a) does not
apply while the data is necessary for it). The connector only reports the facts, per row, with
an opaque ref each, and the planner decides:

- `customer:<id>/contact`: a live row holding the subject's details. A person's row runs a
  contract while its status is `active` (a `closed` row's services have ended). A company's
  row is the company's contract, not its contact person's: the person's details on it are
  never kept for it (`contract_active` False), and erasing them leaves the company's own.
- `customer:<id>/cards`: the stored cards of a person's row (a company's cards are its own and
  not counted as the subject's at all), kept while that row's contract runs.

Plans made before these facts existed (an older policy: a request in flight, a follow-up)
carry no refs for the two categories and are carried out category-wide, as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.billing._matching import Match, chunks, holds_contact_person, is_company
from connectors.billing._tables import card_tokens
from schemas.results import RecordFacts

__all__ = ["cards_ref", "contact_ref", "customer_facts", "customer_of", "in_contract"]

_CONTACT = "/contact"
_CARDS = "/cards"


def contact_ref(customer_id: int) -> str:
    """The opaque reference of one customer row's contact details."""
    return f"customer:{customer_id}{_CONTACT}"


def cards_ref(customer_id: int) -> str:
    """The opaque reference of one customer row's stored cards."""
    return f"customer:{customer_id}{_CARDS}"


def customer_of(ref: str) -> int | None:
    """The customer id of a contact or cards ref; None for any other ref."""
    for suffix in (_CONTACT, _CARDS):
        if ref.startswith("customer:") and ref.endswith(suffix):
            number = ref.removeprefix("customer:").removesuffix(suffix)
            return int(number) if number.isdigit() else None
    return None


def in_contract(row: Row[Any]) -> bool:
    """The subject's own contract runs on this row: a person's row whose status is `active`."""
    return not is_company(row) and row.status == "active"


async def customer_facts(conn: AsyncConnection, match: Match) -> list[RecordFacts]:
    """One group per live row holding the subject's details, and one per person's row with
    stored cards, each with its ref and whether the row's contract runs (as `_counts` counts
    them: the sums agree)."""
    facts = [
        RecordFacts(
            category="contact",
            count=1,
            refs=(contact_ref(row.id),),
            contract_active=in_contract(row),
        )
        for row in match.live
        if holds_contact_person(row)
    ]
    for ids in chunks(match.personal_ids):
        for customer_id, count in await _cards_per_customer(conn, ids):
            facts.append(
                RecordFacts(
                    category="card_tokens",
                    count=count,
                    refs=(cards_ref(customer_id),),
                    contract_active=in_contract(match.rows[customer_id]),
                )
            )
    return facts


async def _cards_per_customer(conn: AsyncConnection, ids: Sequence[int]) -> list[tuple[int, int]]:
    rows = await conn.execute(
        select(card_tokens.c.customer_id, func.count())
        .where(card_tokens.c.customer_id.in_(ids))
        .group_by(card_tokens.c.customer_id)
        .order_by(card_tokens.c.customer_id)
    )
    return [(int(customer_id), int(count)) for customer_id, count in rows]
