"""`python -m sandbox.hosting URL --customers N --seed S [--home-root DIR]`: seed the hosting
sandbox (database, and the home directory tree when --home-root is given).

Prints a JSON summary; it holds example subjects (fictitious people) to try requests with.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from sandbox.hosting.seed import seed_hosting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.hosting", description=__doc__)
    parser.add_argument("database_url", help="e.g. sqlite+aiosqlite:///hosting.db")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--home-root", type=Path, default=None)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args(argv)

    def progress(done: int) -> None:
        print(f"\r{done:>10,} / {args.customers:,} customers", end="", file=sys.stderr)

    summary = asyncio.run(
        seed_hosting(
            args.database_url,
            args.customers,
            args.seed,
            home_root=args.home_root,
            batch_size=args.batch_size,
            progress=progress,
        )
    )
    print(file=sys.stderr)
    print(summary.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
