"""Every SQL statement the newsletter API runs, in one place (the routes stay thin).

Each function takes an open connection, so a route decides what one transaction covers: a
subscriber's deletion with its subscriptions and tracking is one transaction, never half done.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from sandbox.newsletter._paging import Page
from sandbox.newsletter._rows import AnyRow
from sandbox.newsletter.hashing import normalise_email
from sandbox.newsletter.schema import (
    blocklist_hashes,
    campaign_views,
    campaigns,
    link_clicks,
    links,
    lists,
    subscriber_lists,
    subscribers,
)

__all__ = [
    "EMAIL_PATTERN",
    "NewSubscriber",
    "add_hashes",
    "add_subscriber",
    "blocklist_entry",
    "blocklist_page",
    "change_subscriptions",
    "clicks_page",
    "delete_subscriber",
    "email_taken",
    "find_by_email",
    "get_subscriber",
    "is_blocklisted",
    "list_ids",
    "lists_page",
    "search_subscribers",
    "subscriptions_of",
    "unsubscribe_all",
    "update_subscriber",
    "valid_email",
    "views_page",
]

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def valid_email(address: str) -> str | None:
    """The address as stored (normalised), or None if it is not an address."""
    normalised = normalise_email(address)
    return normalised if EMAIL_PATTERN.match(normalised) and len(normalised) <= 254 else None


def _now() -> datetime:
    return datetime.now(UTC)


# --- subscribers --------------------------------------------------------------------------


async def search_subscribers(
    conn: AsyncConnection,
    where: ColumnElement[bool] | None,
    page: Page,
    list_filter: Sequence[int] = (),
    subscription_status: str | None = None,
) -> tuple[list[AnyRow], int]:
    """One page of subscribers matching `where` (oldest first), and how many match in all."""
    condition: ColumnElement[bool] = where if where is not None else true()
    if list_filter:
        member = select(subscriber_lists.c.subscriber_id).where(
            subscriber_lists.c.list_id.in_(list_filter)
        )
        if subscription_status:
            member = member.where(subscriber_lists.c.status == subscription_status)
        condition = condition & subscribers.c.id.in_(member)
    statement = select(subscribers).where(condition).order_by(subscribers.c.id)
    count = select(func.count()).select_from(subscribers).where(condition)
    # A lookup (a query given) counts in the same statement; a plain listing of everybody
    # counts separately, where SQLite's count of a whole table is cheap and a window is not.
    return await _page_with_total(conn, statement, count, page, windowed=where is not None)


async def _page_with_total(
    conn: AsyncConnection,
    statement: Select[Any],
    count: Select[Any],
    page: Page,
    *,
    windowed: bool = True,
) -> tuple[list[AnyRow], int]:
    """One page of `statement` and the total: with COUNT(*) OVER () in the same query, as
    listmonk does (a DSR lookup is one round trip), or with `count` when not `windowed` or
    when the page is empty (past the last page there is no row to carry the total)."""
    if windowed:
        statement = statement.add_columns(func.count().over().label("total_count"))
    rows = list((await conn.execute(statement.limit(page.per_page).offset(page.offset))).all())
    if windowed and rows:
        return rows, int(rows[0].total_count)
    if windowed and page.offset == 0:
        return rows, 0
    return rows, int((await conn.execute(count)).scalar_one())


async def get_subscriber(conn: AsyncConnection, subscriber_id: int) -> AnyRow | None:
    return (
        await conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id))
    ).one_or_none()


async def subscriptions_of(
    conn: AsyncConnection, subscriber_ids: Sequence[int]
) -> dict[int, list[AnyRow]]:
    """Each subscriber's subscriptions joined with their lists, by subscriber id."""
    found: dict[int, list[AnyRow]] = {i: [] for i in subscriber_ids}
    if not subscriber_ids:
        return found
    rows = (
        await conn.execute(
            select(
                subscriber_lists.c.subscriber_id,
                subscriber_lists.c.list_id,
                subscriber_lists.c.status,
                subscriber_lists.c.created_at,
                subscriber_lists.c.updated_at,
                lists.c.uuid,
                lists.c.name,
                lists.c.type,
                lists.c.optin,
            )
            .join(lists, lists.c.id == subscriber_lists.c.list_id)
            .where(subscriber_lists.c.subscriber_id.in_(subscriber_ids))
            .order_by(subscriber_lists.c.subscriber_id, subscriber_lists.c.list_id)
        )
    ).all()
    for row in rows:
        found[row.subscriber_id].append(row)
    return found


async def find_by_email(conn: AsyncConnection, email: str) -> AnyRow | None:
    """The subscriber with this (normalised) address: the unique index makes it one lookup."""
    return (
        await conn.execute(select(subscribers).where(subscribers.c.email == email))
    ).one_or_none()


async def email_taken(conn: AsyncConnection, email: str, other_than: int | None = None) -> bool:
    statement = select(subscribers.c.id).where(subscribers.c.email == email)
    if other_than is not None:
        statement = statement.where(subscribers.c.id != other_than)
    return (await conn.execute(statement.limit(1))).first() is not None


@dataclass(frozen=True)
class NewSubscriber:
    email: str  # normalised
    name: str
    attribs: dict[str, Any]
    status: str = "enabled"
    list_ids: tuple[int, ...] = ()
    preconfirm: bool = False


async def add_subscriber(conn: AsyncConnection, new: NewSubscriber) -> int:
    """Insert the subscriber and its subscriptions (double opt-in lists start unconfirmed)."""
    now = _now()
    result = await conn.execute(
        insert(subscribers).values(
            uuid=str(uuid.uuid4()),
            email=new.email,
            name=new.name,
            attribs=new.attribs,
            status=new.status,
            created_at=now,
            updated_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None  # an INSERT of one row always has its key
    subscriber_id = int(key[0])
    status = "confirmed" if new.preconfirm else None
    if new.status == "blocklisted":  # listmonk never subscribes a blocklisted address
        status = "unsubscribed"
    await change_subscriptions(conn, [subscriber_id], new.list_ids, "add", status)
    return subscriber_id


async def update_subscriber(
    conn: AsyncConnection, subscriber_id: int, values: dict[str, Any]
) -> None:
    await conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id)
        .values(**values, updated_at=_now())
    )


async def delete_subscriber(conn: AsyncConnection, subscriber_id: int) -> bool:
    """Delete the subscriber with its subscriptions, campaign views and link clicks.

    (listmonk keeps views and clicks with the subscriber set to NULL, for campaign statistics;
    this company's policy is that tracking tied to a person goes with the person.)
    """
    for table in (campaign_views, link_clicks, subscriber_lists):
        await conn.execute(delete(table).where(table.c.subscriber_id == subscriber_id))
    result = await conn.execute(delete(subscribers).where(subscribers.c.id == subscriber_id))
    return bool(result.rowcount)


async def list_ids(conn: AsyncConnection, wanted: Sequence[int]) -> set[int]:
    """Which of `wanted` are existing lists."""
    if not wanted:
        return set()
    rows = await conn.execute(select(lists.c.id).where(lists.c.id.in_(wanted)))
    return {int(r.id) for r in rows}


async def change_subscriptions(
    conn: AsyncConnection,
    subscriber_ids: Sequence[int],
    target_list_ids: Sequence[int],
    action: str,
    status: str | None = None,
) -> int:
    """listmonk's `PUT /api/subscribers/lists`: add, remove or unsubscribe. Returns rows changed.

    `add` without a `status` inserts missing subscriptions (confirmed for single opt-in lists,
    unconfirmed for double opt-in) and leaves existing ones as they are, so it never
    re-subscribes somebody who left; `add` with a `status` also sets that status on existing
    subscriptions, as listmonk does.
    """
    if not subscriber_ids or not target_list_ids:
        return 0
    now = _now()
    if action == "unsubscribe":
        result = await conn.execute(
            update(subscriber_lists)
            .where(subscriber_lists.c.subscriber_id.in_(subscriber_ids))
            .where(subscriber_lists.c.list_id.in_(target_list_ids))
            .where(subscriber_lists.c.status != "unsubscribed")
            .values(status="unsubscribed", updated_at=now)
        )
        return int(result.rowcount)
    if action == "remove":
        result = await conn.execute(
            delete(subscriber_lists)
            .where(subscriber_lists.c.subscriber_id.in_(subscriber_ids))
            .where(subscriber_lists.c.list_id.in_(target_list_ids))
        )
        return int(result.rowcount)
    chosen = select(lists.c.id, lists.c.optin).where(lists.c.id.in_(target_list_ids))
    optins = {row.id: row.optin for row in await conn.execute(chosen)}
    changed = 0
    if status is not None:
        result = await conn.execute(
            update(subscriber_lists)
            .where(subscriber_lists.c.subscriber_id.in_(subscriber_ids))
            .where(subscriber_lists.c.list_id.in_(target_list_ids))
            .where(subscriber_lists.c.status != status)
            .values(status=status, updated_at=now)
        )
        changed += int(result.rowcount)
    existing = {
        (row.subscriber_id, row.list_id)
        for row in await conn.execute(
            select(subscriber_lists.c.subscriber_id, subscriber_lists.c.list_id)
            .where(subscriber_lists.c.subscriber_id.in_(subscriber_ids))
            .where(subscriber_lists.c.list_id.in_(target_list_ids))
        )
    }
    rows = [
        {
            "subscriber_id": subscriber_id,
            "list_id": list_id,
            "status": status or ("unconfirmed" if optins[list_id] == "double" else "confirmed"),
            "created_at": now,
            "updated_at": now,
        }
        for subscriber_id in subscriber_ids
        for list_id in target_list_ids
        if list_id in optins and (subscriber_id, list_id) not in existing
    ]
    if rows:
        await conn.execute(insert(subscriber_lists), rows)
    return changed + len(rows)


async def unsubscribe_all(conn: AsyncConnection, subscriber_id: int) -> None:
    """listmonk unsubscribes a blocklisted subscriber from every list."""
    await conn.execute(
        update(subscriber_lists)
        .where(subscriber_lists.c.subscriber_id == subscriber_id)
        .where(subscriber_lists.c.status != "unsubscribed")
        .values(status="unsubscribed", updated_at=_now())
    )


# --- tracking -----------------------------------------------------------------------------


async def views_page(
    conn: AsyncConnection, subscriber_id: int, page: Page
) -> tuple[list[AnyRow], int]:
    statement = (
        select(
            campaign_views.c.id,
            campaign_views.c.campaign_id,
            campaigns.c.name.label("campaign"),
            campaigns.c.subject,
            campaign_views.c.created_at,
        )
        .join(campaigns, campaigns.c.id == campaign_views.c.campaign_id)
        .where(campaign_views.c.subscriber_id == subscriber_id)
        .order_by(campaign_views.c.id)
    )
    count = select(func.count()).where(campaign_views.c.subscriber_id == subscriber_id)
    return await _page_with_total(conn, statement, count, page)


async def clicks_page(
    conn: AsyncConnection, subscriber_id: int, page: Page
) -> tuple[list[AnyRow], int]:
    statement = (
        select(
            link_clicks.c.id,
            link_clicks.c.campaign_id,
            campaigns.c.name.label("campaign"),
            link_clicks.c.link_id,
            links.c.url,
            link_clicks.c.created_at,
        )
        .join(campaigns, campaigns.c.id == link_clicks.c.campaign_id)
        .join(links, links.c.id == link_clicks.c.link_id)
        .where(link_clicks.c.subscriber_id == subscriber_id)
        .order_by(link_clicks.c.id)
    )
    count = select(func.count()).where(link_clicks.c.subscriber_id == subscriber_id)
    return await _page_with_total(conn, statement, count, page)


# --- lists --------------------------------------------------------------------------------


async def lists_page(conn: AsyncConnection, page: Page) -> tuple[list[tuple[AnyRow, int]], int]:
    """A page of lists with their subscriber counts (subscriptions not unsubscribed)."""
    total = (await conn.execute(select(func.count()).select_from(lists))).scalar_one()
    active = (
        select(func.count())
        .where(subscriber_lists.c.list_id == lists.c.id)
        .where(subscriber_lists.c.status != "unsubscribed")
        .scalar_subquery()
        .label("subscriber_count")
    )
    rows = (
        await conn.execute(
            select(lists, active).order_by(lists.c.id).limit(page.per_page).offset(page.offset)
        )
    ).all()
    return [(row, int(row.subscriber_count)) for row in rows], int(total)


# --- blocklist ----------------------------------------------------------------------------


async def is_blocklisted(conn: AsyncConnection, digest: str) -> bool:
    return await blocklist_entry(conn, digest) is not None


async def blocklist_entry(conn: AsyncConnection, digest: str) -> AnyRow | None:
    return (
        await conn.execute(select(blocklist_hashes).where(blocklist_hashes.c.hash == digest))
    ).one_or_none()


async def add_hashes(conn: AsyncConnection, digests: Sequence[str]) -> int:
    """Add the hashes not yet on the blocklist (idempotent). Returns how many were new."""
    wanted = list(dict.fromkeys(digests))
    present = {
        row.hash
        for row in await conn.execute(
            select(blocklist_hashes.c.hash).where(blocklist_hashes.c.hash.in_(wanted))
        )
    }
    now = _now()
    rows = [{"hash": d, "created_at": now} for d in wanted if d not in present]
    if rows:
        await conn.execute(insert(blocklist_hashes), rows)
    return len(rows)


async def blocklist_page(conn: AsyncConnection, page: Page) -> tuple[list[AnyRow], int]:
    total = (await conn.execute(select(func.count()).select_from(blocklist_hashes))).scalar_one()
    rows = (
        await conn.execute(
            select(blocklist_hashes)
            .order_by(blocklist_hashes.c.hash)
            .limit(page.per_page)
            .offset(page.offset)
        )
    ).all()
    return list(rows), int(total)
