"""Memory and time of exporting a support user with 10,000 tickets (target: < 100 MiB growth).

    .venv/bin/python bench/support_export_memory.py [--tickets 10000] [--customers 200]

Seeds the support sandbox (SQLite, in a temporary folder) with a few customers and the heavy
user, starts the real sandbox server (uvicorn, no rate limit), and exports the heavy user through
the support connector into a sink that counts and discards every record, as an archive writer
streaming to disk would. Two runs: the first measures the time and the growth of the process's
peak RSS; the second runs under tracemalloc and reports the peak of Python allocations above
what was allocated before the export. The connector pages through the tickets and writes each
ticket and its conversation as it goes, so neither figure should grow with the ticket count.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.base.retry import RetryPolicy
from connectors.support import SupportConnector
from connectors.testing import RecordingSink
from devstack.localstack import free_port, sandbox_server
from sandbox.support import seed_support
from schemas.identifiers import IdentifierType
from schemas.subject import Identifier, SubjectRef

MIB = 1024 * 1024
TOKEN = "bench-support-token"  # noqa: S105 - a throwaway token for a local sandbox


def peak_rss() -> int:
    """The process's peak resident set size so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def export_once(url: str, subject: SubjectRef) -> tuple[dict[str, int], float]:
    connector = SupportConnector(url, TOKEN, retry=RetryPolicy(attempts=4))
    try:
        sink = RecordingSink(keep=False)  # counts, keeps nothing
        started = time.perf_counter()
        await connector.export(subject, sink)
        return sink.counts, time.perf_counter() - started
    finally:
        await connector.aclose()


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="support-bench-") as tmp:
        root = Path(tmp)
        url = f"sqlite+aiosqlite:///{root / 'support.db'}"
        started = time.perf_counter()
        summary = await seed_support(url, args.customers, args.seed, heavy_tickets=args.tickets)
        heavy = summary.examples.heavy_user
        assert heavy is not None
        seeded = time.perf_counter() - started
        print(f"seeded {args.customers} customers and the heavy user in {seeded:.1f} s")
        subject = SubjectRef(
            identifiers=(Identifier(type=IdentifierType.EMAIL, value=heavy.emails[0]),),
            name=heavy.names[0],
        )
        port = free_port()
        server = sandbox_server(
            "support", port, url, root / "logs", {"api_token": TOKEN, "rate_limit": "0"}
        )
        try:
            base = f"http://127.0.0.1:{port}"
            rss_before = peak_rss()
            counts, seconds = await export_once(base, subject)
            rss_growth = peak_rss() - rss_before

            tracemalloc.start()
            baseline, _ = tracemalloc.get_traced_memory()
            traced_counts, traced_seconds = await export_once(base, subject)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            server.stop()
    expected = {k: v for k, v in heavy.expected_counts.items() if v}
    print(f"exported {counts}")
    rate = counts.get("tickets", 0) / seconds
    traced = peak - baseline
    print(f"time:             {seconds:.1f} s ({rate:.0f} tickets/s)")
    print(f"peak RSS growth:  {rss_growth / MIB:.1f} MiB")
    print(f"tracemalloc peak: {traced / MIB:.1f} MiB (that run took {traced_seconds:.1f} s)")
    complete = counts == expected == traced_counts
    ok = complete and rss_growth < 100 * MIB and traced < 100 * MIB
    print("target (< 100 MiB growth, every record exported):", "met" if ok else "MISSED")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    raise SystemExit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
