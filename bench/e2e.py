"""End-to-end throughput and latency of the spine, against the floor this machine allows.

    .venv/bin/python bench/e2e.py [--requests 100] [--rounds 2] [--customers 2000] [--profile DIR]
                                  [--topology one|split|per-connector]

Starts its own broker, Temporal dev server, the five sandbox systems, worker and intake (the
same code as `dsr up`), plus the floor's worker, then measures:
  1. one request end to end on the idle stack: p50 of nine, split into the intake's pick-up
     (event sent → workflow started) and the workflow (started → completed), and the workflow
     into its steps from its history (bookkeeping, each fan-out to the connectors, the package,
     the expiry child) with how long its tasks waited for a worker; the floor's single workflow
     alike, for the share that is Temporal's shape alone;
  2. in alternating rounds (the machine is shared: both see the same load), the floor — N no-op
     workflows of the spine's exact Temporal shape (noop_shape.py), started directly — and the
     spine — N signed access requests through Kafka until `completed` is on the status topic;
Prints requests/s of both, their ratio (target >= 0.85), CPU ms per request of every process and
the CPU ratio, the ratio's ceiling (what the processes other than our worker allow: the spine's
workers priced as the floor's), and the single-request p50 (target <= 0.5 s). `--profile DIR`
also samples the worker and the floor's worker with py-spy during every batch and prints where
their CPU goes (bench/pyspy_profile.py), and one request's history as a timeline. `--topology
split` runs the workflow/orchestrator queue and the connector queues in two worker processes,
and `per-connector` one process per connector besides the workflows' — the Helm chart's
deployments (the floor's workers alike): on 2 cores the connectors' CPU then runs beside the
workflow's instead of queueing behind it on one GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pyspy_profile import PySpy, summarise, thread_cpu, thread_cpu_delta
from bench.stack import access_event, compile_bytecode, stack_env
from devstack.localstack import (
    ManagedProcess,
    free_port,
    kafka_broker,
    temporal_dev_server,
)
from orchestrator.publish import encode_request
from orchestrator.settings import Settings
from orchestrator.signing import signature_headers
from orchestrator.temporal_client import connect_temporal
from schemas.records import CompletionRecord
from schemas.workflow import workflow_id_for


async def wait_started_then_result(client: Client, request_id: str) -> CompletionRecord:
    """For a single request: poll until the intake has started it, then await its result."""
    handle = client.get_workflow_handle(workflow_id_for(request_id), result_type=CompletionRecord)
    while True:
        try:
            return await handle.result()
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.01)


async def completed_on_status_topic(settings: Settings, ids: set[str]) -> None:
    """Wait as the portal does: until every request's `completed` event is on dsr.status.v1
    (no polling of Temporal, so the measurement does not load the server it measures)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        metadata_max_age_ms=500,
    )
    await consumer.start()
    consumer.subscribe([settings.status_topic])
    pending = {i.encode() for i in ids}
    try:
        while pending:
            for records in (await consumer.getmany(timeout_ms=200)).values():
                for record in records:
                    if record.key in pending and b'"status":"completed"' in record.value:
                        pending.discard(record.key)
    finally:
        await consumer.stop()


class Bench:
    """The floor's and the spine's clients, used in alternating batches in one event loop."""

    def __init__(self, settings: Settings, procs: list[ManagedProcess], profile: Path | None):
        self.settings, self.procs, self.profile = settings, procs, profile

    async def __aenter__(self) -> Bench:
        self.floor_client = await Client.connect(self.settings.temporal_address)
        self.client = await connect_temporal(self.settings)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, acks="all"
        )
        await self.producer.start()
        self.key_id, self.secret = next(iter(self.settings.signing_key_ring().items()))
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.producer.stop()

    async def run_floor(self, connectors: int, ids: list[str]) -> None:
        handles = [
            await self.floor_client.start_workflow(
                "NoopShape",
                args=[connectors, FLOOR_LOCAL_BOOKKEEPING],
                id=i,
                task_queue="bench-noop",
            )
            for i in ids
        ]
        await asyncio.gather(*(h.result() for h in handles))

    async def send(self, request_id: str, email: str) -> None:
        value = encode_request(access_event(request_id, email))
        await self.producer.send_and_wait(
            self.settings.requests_topic,
            key=request_id.encode(),
            value=value,
            headers=signature_headers(value, self.key_id, self.secret),
        )

    async def one_request(self, request_id: str, email: str) -> float:
        t0 = time.perf_counter()
        await self.send(request_id, email)
        await wait_started_then_result(self.client, request_id)
        return time.perf_counter() - t0

    async def split(self, request_id: str, sent_at: float) -> tuple[float, float]:
        """(intake pick-up, workflow run) in seconds: the event sent → the workflow started
        (Kafka, the intake's fetch, its checks, the start call) and started → completed."""
        history = await self.client.get_workflow_handle(workflow_id_for(request_id)).fetch_history()
        first, last = history.events[0].event_time, history.events[-1].event_time
        started = first.seconds + first.nanos / 1e9
        return started - sent_at, (last.seconds + last.nanos / 1e9) - started

    async def run_spine(self, ids: list[str], emails: list[str]) -> None:
        waiting = asyncio.create_task(completed_on_status_topic(self.settings, set(ids)))
        await asyncio.gather(
            *(self.send(rid, email) for rid, email in zip(ids, emails, strict=True))
        )
        await waiting

    async def measured(
        self, name: str, worker: str, n: int, batch: Awaitable[None]
    ) -> tuple[float, dict[str, float]]:
        """Requests/s of one batch and CPU ms per request of every process."""
        before = cpu_snapshot(self.procs)
        sampling = _Sampling(self.procs, worker, self.profile and self.profile / name, n)
        start = time.perf_counter()
        await batch
        rate = n / (time.perf_counter() - start)
        after = cpu_snapshot(self.procs)
        sampling.stop()
        return rate, {k: (after[k] - before[k]) * 1000 / n for k in after if k in before}


# The floor runs the orchestrator's bookkeeping steps the way the spine does (workflows/dsr.py
# `_bookkeeping`): as local activities.
FLOOR_LOCAL_BOOKKEEPING = True


async def measure(
    settings: Settings,
    procs: list[ManagedProcess],
    emails: list[str],
    args: argparse.Namespace,
    connectors: int,
) -> None:
    n = args.requests
    # One subject per request: a second access request of the same subject within 12 months
    # waits for the DPO's decision (the policy's one free copy a year), by design.
    latency_runs = args.latency_runs
    needed = 1 + latency_runs + n * args.rounds
    if needed > len(emails):
        raise SystemExit(f"{needed} distinct subjects needed, {len(emails)} seeded: --customers")
    subjects = iter(emails)
    async with Bench(settings, procs, args.profile) as bench:
        # warm-up: the floor's first workflow task, the intake's consumer group join
        await bench.run_floor(connectors, [f"noop-warm-{secrets.token_hex(4)}"])
        await bench.one_request(f"bench-warm-{secrets.token_hex(4)}", next(subjects))
        latencies, pickups, runs, steps = [], [], [], []
        for i in range(latency_runs):
            rid = f"bench-lat-{i}-{secrets.token_hex(4)}"
            sent_at = time.time()
            latencies.append(await bench.one_request(rid, next(subjects)))
            pickup, run = await bench.split(rid, sent_at)
            pickups.append(pickup)
            runs.append(run)
            steps.append(await steps_of(bench.client, workflow_id_for(rid)))
        if args.profile is not None:
            print(await timeline(bench.client, rid))
        latencies.sort()
        print(
            f"one request end to end:      p50 {statistics.median(latencies):.3f} s, "
            f"min {latencies[0]:.3f} s, max {latencies[-1]:.3f} s over {latency_runs}"
            "  (target p50 <= 0.5 s)"
        )
        print(
            f"  of which: intake pick-up p50 {statistics.median(pickups):.3f} s (Kafka → workflow "
            f"started), workflow p50 {statistics.median(runs):.3f} s (started → completed)"
        )
        floor_steps = []
        for i in range(latency_runs):
            floor_id = f"noop-lat-{i}-{secrets.token_hex(4)}"
            await bench.run_floor(connectors, [floor_id])
            floor_steps.append(await steps_of(bench.floor_client, floor_id))
        print(print_steps("the spine's workflow", steps))
        print(print_steps("the floor's workflow (no-op activities, same shape)", floor_steps))

        totals = {"floor": [0.0, 0.0], "spine": [0.0, 0.0]}  # requests, seconds
        cpu_sum: dict[str, dict[str, float]] = {"floor": {}, "spine": {}}
        for r in range(args.rounds):
            # Alternating batches: the other engineers' load on the machine drifts, and the
            # ratio should compare the two under the same conditions.
            floor_ids = [f"noop-{r}-{i}-{secrets.token_hex(4)}" for i in range(n)]
            floor_rate, floor_cpu = await bench.measured(
                f"floor-{r}", "noop-worker", n, bench.run_floor(connectors, floor_ids)
            )
            spine_ids = [f"bench-{r}-{i}-{secrets.token_hex(4)}" for i in range(n)]
            spine_rate, spine_cpu = await bench.measured(
                f"spine-{r}",
                "worker",
                n,
                bench.run_spine(spine_ids, [next(subjects) for _ in spine_ids]),
            )
            for name, rate, cpu in (
                ("floor", floor_rate, floor_cpu),
                ("spine", spine_rate, spine_cpu),
            ):
                totals[name][0] += n
                totals[name][1] += n / rate
                for k, v in cpu.items():
                    cpu_sum[name][k] = cpu_sum[name].get(k, 0.0) + v / args.rounds
            print(
                f"round {r + 1}: floor {floor_rate:5.1f}/s, spine {spine_rate:5.1f}/s, "
                f"ratio {spine_rate / floor_rate:4.2f}; CPU ms per request floor "
                f"{sum(floor_cpu.values()):.0f}, spine {sum(spine_cpu.values()):.0f}"
            )
    floor_rate = totals["floor"][0] / totals["floor"][1]
    spine_rate = totals["spine"][0] / totals["spine"][1]
    floor_total = sum(cpu_sum["floor"].values())
    spine_total = sum(cpu_sum["spine"].values())
    print(
        f"requests:                    {n} x {args.rounds} rounds "
        f"(five sandbox systems, {args.customers} customers, worker topology {args.topology})"
    )
    print(f"floor (no-op, same shape):   {floor_rate:6.1f} workflows/s")
    print(f"spine (Kafka → completed):   {spine_rate:6.1f} requests/s")
    print(f"ratio:                       {spine_rate / floor_rate:6.2f}  (target >= 0.85)")
    print(
        f"CPU ratio (floor/spine ms):  {floor_total / spine_total:6.2f}  "
        f"({floor_total:.0f} / {spine_total:.0f} ms per request, all processes)"
    )
    for name in ("floor", "spine"):
        print(
            f"{name} CPU per request (ms):  "
            + ", ".join(f"{k} {v:.0f}" for k, v in cpu_sum[name].items() if v >= 0.5)
        )
    print(_ceiling_line(cpu_sum["floor"], cpu_sum["spine"]))


def _ceiling_line(floor: dict[str, float], spine: dict[str, float]) -> str:
    """The CPU ratio the spine would reach if its worker processes cost no more than the floor's
    no-op workers: the bound set by what the floor does not run at all (the sandbox systems, the
    intake, the broker's share) and by Temporal's larger histories. A target above it cannot be
    met by making our own worker code faster."""
    floor_total, spine_total = sum(floor.values()), sum(spine.values())
    floor_workers = sum(v for k, v in floor.items() if "worker" in k)
    spine_workers = sum(v for k, v in spine.items() if "worker" in k)
    others = spine_total - spine_workers
    ceiling = floor_total / (others + floor_workers) if others + floor_workers else float("nan")
    return (
        f"CPU ratio ceiling:           {ceiling:6.2f}  (the spine's workers as cheap as the "
        f"floor's: {others:.0f} ms of other processes + {floor_workers:.0f} ms of worker)"
    )


class _Sampling:
    """With --profile: py-spy on one process and its per-thread CPU, printed when stopped."""

    def __init__(self, procs: list[ManagedProcess], name: str, out: Path | None, n: int) -> None:
        self.n, self.name, self.spy = n, name, None
        proc = next((p.process for p in procs if p.name == name and p.process), None)
        if out is None or proc is None:
            return
        self.pid = proc.pid
        self.threads = thread_cpu(self.pid)
        self.spy = PySpy(self.pid, out / f"{name}.raw").start()

    def stop(self) -> None:
        if self.spy is None:
            return
        delta = thread_cpu_delta(self.threads, thread_cpu(self.pid), self.n)
        self.spy.stop()
        print(f"{self.name} CPU per request by thread (ms): {delta}")
        print(summarise(self.spy.out))


class Steps(NamedTuple):
    """One workflow run's history cut into steps, and how long its tasks waited to be picked up."""

    total: float  # started → completed, seconds
    steps: list[tuple[str, int, float]]  # (what the workflow waited for, how many, seconds)
    activity_wait: float  # mean activity task scheduled → started, seconds
    workflow_task_wait: float  # mean workflow task scheduled → started, seconds


@dataclass
class _Batch:
    """Activities (or a child) scheduled together, and which of its activities are still open."""

    begin: float
    kinds: Counter[str] = field(default_factory=Counter)
    open: set[int] = field(default_factory=set)


_CLOSED = (
    "activity_task_completed_event_attributes",
    "activity_task_failed_event_attributes",
    "activity_task_timed_out_event_attributes",
    "activity_task_canceled_event_attributes",
)


async def steps_of(client: Client, workflow_id: str) -> Steps:
    """Where one run's time went: from its start to its first batch of commands, then from each
    batch of activities (or child workflow) to the next batch, the last to completion. A batch is
    what one workflow task scheduled, joined with the next one's activities of the same kind
    while some of its own are still running (the fan-out of one step can reach the server in two
    workflow tasks). Waits are the dispatch latency of the server and the worker's pollers: the
    time a task sat scheduled before a worker took it."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()

    def at(event: HistoryEvent) -> float:
        return event.event_time.seconds + event.event_time.nanos / 1e9

    t0 = at(history.events[0])
    batches: list[_Batch] = []
    by_task: dict[int, _Batch] = {}  # workflow task completed event id → its batch
    of_activity: dict[int, _Batch] = {}  # scheduled event id → its batch
    scheduled: dict[int, float] = {}
    activity_waits: list[float] = []
    task_waits: list[float] = []
    task_scheduled = t0

    def batch_for(task: int, begin: float, kind: str) -> _Batch:
        if task in by_task:
            return by_task[task]
        last = batches[-1] if batches else None
        if last is not None and last.open and set(last.kinds) == {kind}:
            by_task[task] = last  # the rest of a fan-out still running
            return last
        by_task[task] = _Batch(begin)
        batches.append(by_task[task])
        return by_task[task]

    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            kind = attrs.activity_type.name
            batch = batch_for(attrs.workflow_task_completed_event_id, at(event), kind)
            batch.kinds[kind] += 1
            batch.open.add(event.event_id)
            of_activity[event.event_id] = batch
            scheduled[event.event_id] = at(event)
        elif event.HasField("start_child_workflow_execution_initiated_event_attributes"):
            attrs = event.start_child_workflow_execution_initiated_event_attributes
            batches.append(_Batch(at(event), Counter({"child workflow": 1})))
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            activity_waits.append(at(event) - scheduled[started.scheduled_event_id])
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_scheduled = at(event)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            task_waits.append(at(event) - task_scheduled)
        for closed in _CLOSED:
            if event.HasField(closed):
                scheduled_id = getattr(event, closed).scheduled_event_id
                of_activity[scheduled_id].open.discard(scheduled_id)
    end = at(history.events[-1])
    first = batches[0].begin if batches else end
    steps = [("start → first commands (local bookkeeping)", 0, first - t0)]
    seen: Counter[str] = Counter()
    for batch, following in zip(batches, [*batches[1:], _Batch(end)], strict=True):
        label = " + ".join(sorted(batch.kinds))
        seen[label] += 1
        steps.append(
            (
                f"{label} #{seen[label]}" if seen[label] > 1 else label,
                sum(batch.kinds.values()),
                following.begin - batch.begin,
            )
        )
    return Steps(
        end - t0,
        steps,
        statistics.fmean(activity_waits) if activity_waits else 0.0,
        statistics.fmean(task_waits) if task_waits else 0.0,
    )


def print_steps(title: str, runs: list[Steps]) -> str:
    """The p50 of each step over `runs` (a step's name includes what it waited for)."""
    per_step: dict[str, list[float]] = {}
    fan_out: dict[str, Counter[int]] = {}
    for run in runs:
        for label, count, seconds in run.steps:
            per_step.setdefault(label, []).append(seconds)
            fan_out.setdefault(label, Counter())[count] += 1
    lines = [
        f"{title}: p50 {statistics.median(r.total for r in runs) * 1000:.0f} ms; tasks waited for "
        f"a worker p50 {statistics.median(r.activity_wait for r in runs) * 1000:.1f} ms "
        f"(activity), {statistics.median(r.workflow_task_wait for r in runs) * 1000:.1f} ms "
        "(workflow task); its steps, p50 ms:"
    ]
    for label, seconds in per_step.items():
        # How many tasks the step fanned out to, in how many runs (a subject held by fewer
        # systems has fewer exports).
        counts = ", ".join(f"x{n} in {k}" for n, k in sorted(fan_out[label].items()))
        lines.append(
            f"  {statistics.median(seconds) * 1000:7.1f}  {label}"
            + (f" ({counts} of {len(runs)} runs)" if fan_out[label].keys() - {0} else "")
        )
    return "\n".join(lines)


async def timeline(client: Client, request_id: str) -> str:
    """One request's history as steps: when each activity / child / timer was scheduled,
    started and closed, in ms from the workflow's start (where the single-request latency goes)."""
    history = await client.get_workflow_handle(workflow_id_for(request_id)).fetch_history()
    t0 = history.events[0].event_time.ToDatetime()
    names: dict[int, str] = {}
    lines = [f"timeline of {request_id} (ms from workflow start):"]
    for event in history.events:
        ms = (event.event_time.ToDatetime() - t0).total_seconds() * 1000
        kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        label = ""
        if event.HasField("activity_task_scheduled_event_attributes"):
            label = event.activity_task_scheduled_event_attributes.activity_type.name
            names[event.event_id] = label
        for attr in ("activity_task_started", "activity_task_completed"):
            field = f"{attr}_event_attributes"
            if event.HasField(field):
                label = names.get(getattr(event, field).scheduled_event_id, "")
        lines.append(f"  {ms:7.1f}  {kind} {label}")
    return "\n".join(lines)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(procs: list[ManagedProcess]) -> dict[str, float]:
    return {p.name: cpu_seconds(p.process.pid) for p in procs if p.process is not None and p.alive}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100, help="per batch")
    parser.add_argument("--rounds", type=int, default=2, help="alternating floor/spine batches")
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument(
        "--latency-runs",
        type=int,
        default=9,
        help="single requests (and single floor workflows) measured one after another",
    )
    parser.add_argument("--profile", type=Path, help="py-spy the workers; raw files go here")
    parser.add_argument(
        "--topology",
        choices=["one", "split", "per-connector"],
        default="one",
        help="one worker process (dsr up); workflows apart from connectors; or one process per "
        "connector besides the workflows' (the Helm chart's deployments)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs, data)")
    args = parser.parse_args()

    from devstack.estate import SYSTEMS, Estate
    from sandbox.billing.seed import seeded_customer

    root = Path(tempfile.mkdtemp(prefix="dsr-bench-"))
    logs = root / "logs"
    kafka_port, temporal_port = free_port(), free_port()
    procs: list[ManagedProcess] = []
    try:
        compile_bytecode()
        procs.append(kafka_broker(kafka_port, logs))
        procs.append(temporal_dev_server(temporal_port, root / "temporal.db", logs))
        estate = Estate(root / "sandbox")
        summaries = asyncio.run(estate.seed(args.customers, 3))
        print(f"seeded {summaries['billing'].customers} customers into the five systems")
        procs.extend(estate.start_servers(logs))
        emails = [
            c.customer.email
            for c in (seeded_customer(i, 3) for i in range(args.customers))
            if c.customer.special is None and c.customer.status == "active"
        ]
        env = {
            **stack_env(root, kafka_port, temporal_port),
            "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'dsr.db'}",
            **estate.connector_env(),
        }
        settings = Settings(
            **{k.removeprefix("DSR_").lower(): v for k, v in env.items() if k != "DSR_ENV_FILE"}
        )

        # One worker process (as `dsr up` runs it); two (workflows and orchestrator apart from
        # the connectors); or the Helm chart's shape: the workflow/orchestrator deployment and
        # one deployment per connector. The floor's workers are split the same way.
        roles = {
            "one": [("", "all", [])],
            "split": [
                ("", "workflows", ["--no-connectors"]),
                ("connector-", "connectors", ["--no-orchestrator"]),
            ],
            "per-connector": [
                ("", "workflows", ["--no-connectors"]),
                *(
                    (f"{name}-", "connectors", ["--no-orchestrator", "--connector", name])
                    for name in SYSTEMS
                ),
            ],
        }
        for prefix, floor_role, worker_flags in roles[args.topology]:
            procs.append(
                ManagedProcess(
                    f"noop-{prefix}worker",
                    [
                        sys.executable,
                        str(ROOT / "bench" / "noop_shape.py"),
                        settings.temporal_address,
                        floor_role,
                    ],
                    logs / f"noop-{prefix}worker.log",
                ).start()
            )
            procs.append(
                ManagedProcess(
                    f"{prefix}worker",
                    [sys.executable, "-m", "orchestrator.cli", "worker", *worker_flags],
                    logs / f"{prefix}worker.log",
                    env=env,
                ).start()
            )
        procs.append(
            ManagedProcess(
                "intake",
                [sys.executable, "-m", "orchestrator.cli", "intake"],
                logs / "intake.log",
                env=env,
            ).start()
        )
        connectors = len(SYSTEMS)  # the floor has the same fan-out as the real workflow
        asyncio.run(measure(settings, procs, emails, args, connectors))
    finally:
        for p in reversed(procs):
            p.stop()
        if args.keep:
            print(f"(logs and data kept in {root})")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
