"""`python -m sandbox.registrar URL --customers N --seed S`: seed the registrar sandbox.

Prints a JSON summary; it holds example subjects (fictitious people) to try requests with.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sandbox.registrar.seed import seed_registrar


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.registrar", description=__doc__)
    parser.add_argument("database_url", help="e.g. sqlite+aiosqlite:///registrar.db")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args(argv)

    def progress(done: int) -> None:
        print(f"\r{done:>10,} / {args.customers:,} customers", end="", file=sys.stderr)

    summary = asyncio.run(
        seed_registrar(
            args.database_url,
            args.customers,
            args.seed,
            batch_size=args.batch_size,
            progress=progress,
        )
    )
    print(file=sys.stderr)
    print(summary.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
