"""Side by side with Fides (Ethyca, 2.86.2), the leading open-source DSR engine, on this machine.

    .venv/bin/python bench/peer_fides.py [--sizes 50 200] [--only fides|ours]
    make peer-fides

Back to back in one run, on the same work: access and erasure batches of each size against one
system holding the same 10,000 customers (identity = e-mail `user<k>@example.com`) on the same
PostgreSQL server (127.0.0.1:5432). Batches use customers 1..50, 51..100, 101..300, 301..500 in
the order access 50, erasure 50, access 200, erasure 200 (distinct subjects, as Fides' harness).

1. Fides, through its own harness in `../shared/peers/fides/` (install, seed, start API and
   celery worker, configure, one warm-up request, the batches, stop). Its requests/min is
   what `fides_bench.py` prints (completed / first POST → last `finished_processing_at`).
2. Ours (`bench/_peer_ours.py`): billing connector, tansu, Temporal dev server, worker, intake,
   store on the same PostgreSQL; one warm-up request, the batches; requests/min is completed /
   first send → last `completed` status event seen on Kafka.
3. The table: requests/min, CPU-s per request and peak PSS of both, and the ratios.
   Target: ours >= 3x Fides' requests/min at <= half its peak PSS.

CPU and PSS are measured by `bench/_peer_procs.py` with the same rules for both (process
trees; of the shared PostgreSQL, the server's processes and the backends of the workload's own
databases). The machine's PostgreSQL and Redis are shared and are never stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._peer_fides_side import FidesHarness
from bench._peer_ours import OurStack
from bench._peer_report import print_report

CUSTOMERS = 10_000
WARM_EMAIL = "user9999@example.com"
DEFAULT_PY313 = "/root/.pyenv/versions/3.13.0/bin/python3"


def plan(sizes: list[int]) -> list[tuple[str, int, int]]:
    """(kind, n, first customer) per batch: fresh subjects for every batch."""
    out, offset = [], 1
    for n in sizes:
        for kind in ("access", "erasure"):
            out.append((kind, n, offset))
            offset += n
    if offset - 1 >= int(WARM_EMAIL.removeprefix("user").split("@")[0]):
        raise SystemExit("batches would reach the warm-up customer: use smaller sizes")
    return out


def run_fides(args: argparse.Namespace, logs: Path) -> list[Any]:
    harness = FidesHarness(args.py313, logs)
    batches = []
    print("fides: install (cached), seed, start, setup ...", flush=True)
    harness.step("install", timeout=1800)
    harness.step("db")
    harness.clear_leftovers()
    try:
        harness.step("start", timeout=600)
        harness.step("setup")
        harness.warm_up(WARM_EMAIL)
        for kind, n, offset in plan(args.sizes):
            batch = harness.batch(kind, n, offset, timeout=args.timeout)
            if kind == "erasure":
                batch.verified = asyncio.run(harness.verify_erasure(offset, n))
            print(f"fides: {kind} {n}: {batch.requests_per_min} req/min", flush=True)
            batches.append(batch)
    finally:
        harness.stop()
    return batches


def run_ours(args: argparse.Namespace, root: Path) -> list[Any]:
    stack = OurStack(root, CUSTOMERS)
    batches = []
    try:
        seconds = asyncio.run(stack.prepare())
        print(
            f"ours: seeded {CUSTOMERS} billing customers on PostgreSQL in {seconds:.0f} s",
            flush=True,
        )
        stack.start()
        warm = asyncio.run(stack.batch("access", [WARM_EMAIL], wait_s=120))
        if warm.completed != 1:
            raise RuntimeError(f"our warm-up request did not complete: {warm.statuses}")
        for kind, n, offset in plan(args.sizes):
            emails = [f"user{k}@example.com" for k in range(offset, offset + n)]
            batch = asyncio.run(stack.batch(kind, emails, wait_s=args.timeout))
            if kind == "erasure":
                batch.verified = asyncio.run(stack.verify_erasure(emails))
            print(
                f"ours:  {kind} {n}: {batch.requests_per_min} req/min {batch.statuses}", flush=True
            )
            batches.append(batch)
    finally:
        stack.stop()
        asyncio.run(stack.drop_databases())
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--only", choices=["fides", "ours"], default=None)
    parser.add_argument(
        "--timeout",
        type=float,
        default=900,
        help="seconds per batch (Fides' harness uses 280; a loaded machine needs more)",
    )
    parser.add_argument("--py313", default=os.environ.get("PY313", DEFAULT_PY313))
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="dsr-peer-fides-"))
    logs = root / "logs"
    logs.mkdir(parents=True)
    load = os.getloadavg()
    started = time.time()
    fides = run_fides(args, logs) if args.only != "ours" else []
    ours = run_ours(args, root) if args.only != "fides" else []
    print_report(fides, ours, load_before=load, seconds=time.time() - started)
    if args.keep_logs:
        print(f"logs: {logs}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
