"""`python -m sandbox.support URL --customers N --seed S [--heavy-tickets N]`: seed the support
desk sandbox. Prints a JSON summary; it holds example subjects (fictitious people)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sandbox.support.seed import seed_support


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.support", description=__doc__)
    parser.add_argument("database_url", help="e.g. sqlite+aiosqlite:///support.db")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--heavy-tickets", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args(argv)

    def progress(done: int) -> None:
        print(f"\r{done:>10,} / {args.customers:,} customers", end="", file=sys.stderr)

    summary = asyncio.run(
        seed_support(
            args.database_url,
            args.customers,
            args.seed,
            heavy_tickets=args.heavy_tickets,
            batch_size=args.batch_size,
            progress=progress,
        )
    )
    print(file=sys.stderr)
    print(summary.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
