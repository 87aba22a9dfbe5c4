"""`python -m orchestrator.store upgrade|verify|revision [--database-url URL]`.

The URL defaults to `DSR_DATABASE_URL` (see orchestrator.settings).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from orchestrator.store._engine import create_engine, normalise_url
from orchestrator.store._errors import DATABASE_UNREACHABLE, AuditChainBroken, StoreError
from orchestrator.store._migrate import current_revision, head_revision, upgrade
from orchestrator.store._store import Store


async def _revision(database_url: str) -> str | None:
    engine = create_engine(normalise_url(database_url))
    try:
        return await current_revision(engine)
    finally:
        await engine.dispose()


async def _verify(database_url: str) -> int:
    async with await Store.open(database_url, migrate=False) as store:
        return await store.verify_audit_chain()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.store", description=__doc__)
    parser.add_argument("command", choices=["upgrade", "verify", "revision"])
    parser.add_argument("--database-url", help="default: DSR_DATABASE_URL")
    args = parser.parse_args(argv)
    database_url: str = args.database_url
    if not database_url:
        from orchestrator.settings import get_settings

        database_url = get_settings().database_url
    try:
        if args.command == "upgrade":
            asyncio.run(upgrade(database_url))
            print(f"store schema at {head_revision()}")
        elif args.command == "verify":
            count = asyncio.run(_verify(database_url))
            print(f"audit chain intact: {count} entries verified")
        else:
            current = asyncio.run(_revision(database_url))
            print(f"current: {current or '<empty>'}  head: {head_revision()}")
    except AuditChainBroken as exc:
        print(f"AUDIT CHAIN BROKEN: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DATABASE_UNREACHABLE as exc:
        print(f"error: cannot connect to the database ({exc})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
