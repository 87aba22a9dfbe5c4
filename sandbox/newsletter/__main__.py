"""`python -m sandbox.newsletter URL --customers N --seed S`: seed the newsletter sandbox.

Prints a JSON summary; it holds example subjects (fictitious people) to try requests with. Serve
the result with `python -m sandbox.serve newsletter --port P --database-url URL`, passing the
same salt as `--option blocklist_salt=...` when it is not the default.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sandbox.newsletter.hashing import DEFAULT_BLOCKLIST_SALT
from sandbox.newsletter.seed import seed_newsletter


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.newsletter", description=__doc__)
    parser.add_argument("database_url", help="e.g. sqlite+aiosqlite:///newsletter.db")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--blocklist-salt", default=DEFAULT_BLOCKLIST_SALT)
    args = parser.parse_args(argv)

    def progress(done: int) -> None:
        print(f"\r{done:>10,} / {args.customers:,} customers", end="", file=sys.stderr)

    summary = asyncio.run(
        seed_newsletter(
            args.database_url,
            args.customers,
            args.seed,
            batch_size=args.batch_size,
            blocklist_salt=args.blocklist_salt,
            progress=progress,
        )
    )
    print(file=sys.stderr)
    print(summary.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
