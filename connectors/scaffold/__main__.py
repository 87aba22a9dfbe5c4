"""`python -m connectors.scaffold NAME [--dir ROOT]`: the scaffold without the `dsr` CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from connectors.scaffold._generate import next_steps, scaffold_connector
from connectors.scaffold._names import ScaffoldError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.scaffold",
        description="Scaffold a connector package, its contract test and its docs page.",
    )
    parser.add_argument("name", help="the connector's name, e.g. support_desk")
    parser.add_argument("--dir", type=Path, default=Path("."), help="the repository root")
    args = parser.parse_args(argv)
    try:
        written = scaffold_connector(args.name, args.dir)
    except ScaffoldError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    print()
    print(next_steps(args.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
