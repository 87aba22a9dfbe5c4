"""The scaling curve: requests/s and per-connector locate/export latency at 1k, 100k (and 1M)
seeded customers.

    .venv/bin/python bench/scaling.py [--sizes 1000,100000] [--million] [--requests 50]

For each size: seeds the five sandbox systems (SQLite, the local default) with that many
customers from the same people and starts the whole local stack on it (bench/stack.py: broker,
Temporal, sandboxes, worker, intake); then
  1. per connector, `locate` and `export` of subjects present in all five systems, spread over
     the whole id range (so no index is only warm at its start): median and max, in ms;
  2. a burst of signed access requests through the spine (Kafka → workflow → five systems →
     completed on the status topic), distinct subjects spread over the id range: requests/s.
`--million` adds 1,000,000 customers. Seeding (bench/stack.py `seed_estate`: two processes, the
data the same as `Estate.seed`'s) took 160-206 s for 100,000 here with the machine shared (load
3-4; 311-448 s one system after another before), about 200 CPU-seconds; extrapolated, budget
17 minutes for 1M on two free cores, half an hour on a shared machine, and about 25 GB and 2.2
million home files under the temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time

from stack import BenchStack, Portal

from connectors.base import Connector, connector_classes
from connectors.testing import RecordingSink
from devstack.estate import SYSTEMS
from sandbox.billing.seed import seeded_customer
from sandbox.people import BLOCK_SIZE, customer_at
from sandbox.presence import EVERYWHERE_SLOTS
from schemas.events import Subject
from schemas.subject import SubjectRef


def everywhere_subjects(customers: int, seed: int, count: int) -> list[SubjectRef]:
    """Persons present in all five systems, one per block, spread over the whole id range."""
    blocks = max(1, customers // BLOCK_SIZE)
    picked = {}
    for i in range(count):
        index = ((i * blocks) // count) * BLOCK_SIZE + min(EVERYWHERE_SLOTS)
        picked[index] = SubjectRef.from_subject(Subject(email=customer_at(index, seed).email))
    return list(picked.values())


def spread_emails(customers: int, seed: int, count: int) -> list[str]:
    """`count` distinct active subjects (a repeated access request waits for the DPO), taken
    evenly over the id range."""
    emails: list[str] = []
    step = max(1, customers // count)
    for start in range(0, customers, step):
        for index in range(start, min(start + step, customers)):
            customer = seeded_customer(index, seed).customer
            if customer.special is None and customer.status == "active":
                emails.append(customer.email)
                break
        if len(emails) == count:
            return emails
    raise SystemExit(f"only {len(emails)} distinct active subjects among {customers} customers")


async def connector_latency(refs: list[SubjectRef]) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {}
    for name, cls in connector_classes(list(SYSTEMS)).items():
        connector: Connector = cls.from_settings()
        per: dict[str, list[float]] = {"locate": [], "export": []}
        try:
            await connector.locate(refs[0])  # warm-up: connection pool, first query plans
            for ref in refs:
                t0 = time.perf_counter()
                await connector.locate(ref)
                per["locate"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await connector.export(ref, RecordingSink(keep=False))
                per["export"].append(time.perf_counter() - t0)
        finally:
            await connector.aclose()
        times[name] = per
    return times


async def spine_rate(stack: BenchStack, emails: list[str]) -> float:
    async with Portal(stack.settings) as portal:
        await portal.burst([(f"scale-warm-{secrets.token_hex(4)}", emails[0])], within=300)
        pairs = [(f"scale-{i}-{secrets.token_hex(4)}", e) for i, e in enumerate(emails[1:])]
        seconds = await portal.burst(pairs)
    return len(pairs) / seconds


def run_size(customers: int, args: argparse.Namespace) -> None:
    stack = BenchStack(customers, seed=args.seed, keep=args.keep)
    try:
        stack.start()
        groups = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in stack.seed_times.items())
        print(f"\n== {customers:,} customers (seeded in {stack.seed_seconds:.0f} s: {groups}) ==")
        os.environ.update(stack.estate.connector_env())
        refs = everywhere_subjects(customers, args.seed, args.subjects)
        times = asyncio.run(connector_latency(refs))
        print(f"{len(refs)} subjects present in all five systems:")
        print(
            f"  {'connector':<12}{'locate p50':>12}{'locate max':>12}{'export p50':>12}{'max':>10}"
        )
        for name, per in times.items():
            loc, exp = per["locate"], per["export"]
            print(
                f"  {name:<12}{statistics.median(loc) * 1000:>9.1f} ms{max(loc) * 1000:>9.1f} ms"
                f"{statistics.median(exp) * 1000:>9.1f} ms{max(exp) * 1000:>7.1f} ms"
            )
        emails = spread_emails(customers, args.seed, args.requests + 1)
        rate = asyncio.run(spine_rate(stack, emails))
        print(f"spine: {args.requests} access requests at once: {rate:.2f} requests/s")
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,100000", help="comma-separated customer counts")
    parser.add_argument(
        "--million", action="store_true", help="add 1,000,000 (17-30 minutes to seed)"
    )
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep each size's folder (logs, data)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.million:
        sizes.append(1_000_000)
    for size in sizes:
        run_size(size, args)


if __name__ == "__main__":
    main()
