"""Peak memory of the whole local stack under a burst of requests (target: total < 1 GiB).

    .venv/bin/python bench/memory_burst.py [--requests 100] [--customers 2000] [--interval 0.5]

Starts what `dsr up` runs — the broker (persistent: tansu on s3rver, as `dsr up` runs it), the
Temporal dev server, the five sandbox systems, the worker, the intake and the DPO's API; the store
is SQLite inside the worker, intake and API, as in `dsr up` (bench/stack.py) — then sends a burst
of signed access requests at once and, until every one is completed, samples each process (and its
children) for its PSS with psutil's `memory_full_info().pss`: resident memory with shared pages
divided among the processes sharing them, so the per-process figures add up to what the stack
really holds. The API is read once a second meanwhile (the request list, as the dashboard does).
Prints the idle PSS, the peak PSS per process, and the peak of the total (the largest sum seen in
one sample, not a sum of peaks).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import threading
import urllib.request

import psutil
from stack import API_TOKEN, BenchStack, Portal

MIB = 1024 * 1024
TARGET = 1024 * MIB


class PssSampler(threading.Thread):
    """Samples PSS of named process trees every `interval` seconds, in its own thread."""

    def __init__(self, roots: dict[str, int], interval: float) -> None:
        super().__init__(daemon=True)
        self.roots, self.interval = roots, interval
        self.peak: dict[str, int] = dict.fromkeys(roots, 0)
        self.peak_total = 0
        self.samples = 0
        self.idle: dict[str, int] = dict.fromkeys(roots, 0)
        self._halt = threading.Event()

    def snapshot(self) -> dict[str, int]:
        now: dict[str, int] = {}
        for name, pid in self.roots.items():
            total = 0
            try:
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    try:
                        total += proc.memory_full_info().pss
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        continue
            except psutil.NoSuchProcess:
                pass
            now[name] = total
        return now

    def run(self) -> None:
        while not self._halt.is_set():
            now = self.snapshot()
            self.samples += 1
            for name, pss in now.items():
                self.peak[name] = max(self.peak[name], pss)
            self.peak_total = max(self.peak_total, sum(now.values()))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join()


async def read_api(port: int, until: asyncio.Event) -> int:
    """The dashboard's request list, once a second, until the burst is done."""
    reads = 0
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/requests?limit=50",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    while not until.is_set():
        try:
            await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).read())  # noqa: S310
            reads += 1
        except OSError:
            pass  # the API still starting: the next second tries again
        try:
            await asyncio.wait_for(until.wait(), 1.0)
        except TimeoutError:
            continue
    return reads


async def burst(stack: BenchStack, n: int, sampler: PssSampler) -> tuple[float, int]:
    emails = stack.emails(n + 1)
    async with Portal(stack.settings) as portal:
        # warm-up: the intake's consumer group join and the first workflow task; the stack is
        # idle (and every process has imported what it serves with) once it is done
        await portal.burst([(f"mem-warm-{secrets.token_hex(4)}", emails[0])], within=300)
        sampler.idle = await asyncio.to_thread(sampler.snapshot)
        sampler.start()
        done = asyncio.Event()
        reader = asyncio.create_task(read_api(stack.api_port, done))
        pairs = [(f"mem-{i}-{secrets.token_hex(4)}", e) for i, e in enumerate(emails[1:])]
        seconds = await portal.burst(pairs)
        done.set()
        return seconds, await reader


def mib(n: int) -> str:
    return f"{n / MIB:7.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs, data)")
    args = parser.parse_args()

    stack = BenchStack(args.customers, api=True, keep=args.keep, persistent_broker=True)
    try:
        stack.start()
        roots = {p.name: p.process.pid for p in stack.procs if p.process is not None}
        sampler = PssSampler(roots, args.interval)
        try:
            seconds, reads = asyncio.run(burst(stack, args.requests, sampler))
        finally:
            sampler.stop()
        idle = sampler.idle
        print(
            f"burst: {args.requests} access requests, {args.customers} customers, completed in "
            f"{seconds:.1f} s ({args.requests / seconds:.1f}/s); {sampler.samples} samples, "
            f"{reads} API reads"
        )
        print(f"{'process':20s} {'idle PSS':>12s} {'peak PSS':>12s}")
        for name in roots:
            print(f"{name:20s} {mib(idle[name]):>12s} {mib(sampler.peak[name]):>12s}")
        print(f"{'total':20s} {mib(sum(idle.values())):>12s} {mib(sampler.peak_total):>12s}")
        verdict = "OK" if sampler.peak_total < TARGET else "OVER"
        print(f"peak total PSS {mib(sampler.peak_total)} (target < 1024 MiB: {verdict})")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
