"""Locate and export time per connector for one subject, at N seeded customers.

    .venv/bin/python bench/connectors.py --customers 1000000 [--root DIR] [--reuse]

Seeds all five sandbox systems (SQLite, the local default) with N customers from the same
people, starts the HTTP sandboxes, then for subjects present in all five systems measures each
connector's `locate` (target <= 50 ms: indexed lookups, no scans) and `export` (streamed into a
sink that only counts). Prints the median and max per connector. `--reuse` skips seeding when
the databases under --root already hold N customers (seeding 1,000,000 takes a while).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.base import Connector, connector_classes
from connectors.testing import RecordingSink
from devstack.estate import SYSTEMS, Estate
from sandbox.people import BLOCK_SIZE, customer_at
from sandbox.presence import EVERYWHERE_SLOTS
from schemas.events import Subject
from schemas.subject import SubjectRef


def subjects(customers: int, seed: int, count: int) -> list[SubjectRef]:
    """Plain persons present in all five systems, spread over the whole id range."""
    blocks = max(1, customers // BLOCK_SIZE)
    picked = []
    for i in range(count):
        block = (i * blocks) // count
        customer = customer_at(block * BLOCK_SIZE + min(EVERYWHERE_SLOTS), seed)
        picked.append(SubjectRef.from_subject(Subject(email=customer.email)))
    return picked


async def measure(connector: Connector, refs: list[SubjectRef]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"locate": [], "export": []}
    await connector.locate(refs[0])  # warm-up: connection pool, first query plans
    for ref in refs:
        t0 = time.perf_counter()
        await connector.locate(ref)
        times["locate"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await connector.export(ref, RecordingSink(keep=False))
        times["export"].append(time.perf_counter() - t0)
    return times


async def main_async(args: argparse.Namespace) -> None:
    root = Path(args.root).resolve()
    marker = root / "seeded.json"
    estate_file = root / "estate.json"
    if args.reuse and estate_file.exists():
        saved = json.loads(estate_file.read_text())
        estate = Estate(root, secrets=saved["secrets"])
    else:
        estate = Estate(root)
    if not (args.reuse and marker.exists() and json.loads(marker.read_text()) == args.customers):
        t0 = time.perf_counter()
        await estate.seed(args.customers, args.seed)
        print(
            f"seeded {args.customers} customers into 5 systems in {time.perf_counter() - t0:.0f} s"
        )
        marker.write_text(json.dumps(args.customers))
        estate_file.write_text(json.dumps({"secrets": estate.secrets}))
    servers = estate.start_servers(root / "logs")
    os.environ.update(estate.connector_env())
    try:
        refs = subjects(args.customers, args.seed, args.subjects)
        print(f"{args.customers} customers; {len(refs)} subjects present in all five systems")
        print(f"{'connector':<12}{'locate median':>15}{'locate max':>12}{'export median':>15}")
        for name, cls in connector_classes(list(SYSTEMS)).items():
            connector = cls.from_settings()
            try:
                times = await measure(connector, refs)
            finally:
                await connector.aclose()
            print(
                f"{name:<12}{statistics.median(times['locate']) * 1000:>12.1f} ms"
                f"{max(times['locate']) * 1000:>9.1f} ms"
                f"{statistics.median(times['export']) * 1000:>12.1f} ms"
            )
    finally:
        for server in servers:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--root", default="bench/results/estate")
    parser.add_argument("--reuse", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
