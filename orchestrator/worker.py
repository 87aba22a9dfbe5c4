"""Worker entry point: the orchestrator queue (workflow + store/status activities) and one task
queue per connector. `dsr worker` runs them; several processes may serve the same queues.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from connectors.base import Connector, connector_classes, describe
from orchestrator.audit import audit_checkpoints
from orchestrator.logging import get_logger
from orchestrator.reconcile import Reconciler, ensure_reconcile_schedule
from orchestrator.settings import Settings
from orchestrator.shutdown import install_stop_handlers
from orchestrator.status_publisher import KafkaStatusPublisher
from orchestrator.store import Store
from orchestrator.telemetry import MeteredStatusPublisher, ProcessTelemetry
from orchestrator.temporal_client import connect_temporal
from workflows.activities import ConnectorActivities, OrchestratorActivities
from workflows.dsr import DsrWorkflow
from workflows.dsr_v1 import DsrWorkflowV1
from workflows.reconcile import ReconcileWorkflow

__all__ = ["run_workers"]

log = get_logger(__name__)

# The sandbox still refuses non-deterministic calls (datetime.now, I/O, random) at run time;
# passing modules through only skips re-importing them for every workflow run, which cost
# about a quarter of the worker's CPU per request (bench/e2e.py). Safe because no module the
# workflow imports has import-time side effects or mutable module state.
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
)


def _connector_workers(
    client: Client, settings: Settings, connectors: Sequence[Connector]
) -> list[Worker]:
    workers = []
    for connector in connectors:
        acts = ConnectorActivities(connector, settings.export_dir)
        workers.append(
            Worker(
                client,
                task_queue=describe(
                    type(connector), settings.connector_task_queue_prefix
                ).task_queue,
                activities=acts.all(),
                # Per connector deployment (the chart's connectors.<name>.concurrency).
                max_concurrent_activities=settings.max_concurrent_activities,
                graceful_shutdown_timeout=timedelta(seconds=5),
            )
        )
    return workers


async def run_workers(
    settings: Settings,
    *,
    orchestrator: bool = True,
    connectors: list[str] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set). `connectors=[]` runs no connector queues."""
    stop = stop or asyncio.Event()
    # Drain on SIGTERM/SIGINT (running activities get graceful_shutdown_timeout), and exit by
    # settings.shutdown_timeout whatever hangs: Temporal retries anything cut short.
    install_stop_handlers(asyncio.get_running_loop(), stop.set, deadline=settings.shutdown_timeout)

    names = settings.connectors or None
    classes = connector_classes(names)
    selected = classes if connectors is None else {n: classes[n] for n in connectors}
    # Before connecting: tracing and the Temporal runtime's metrics are set up per process.
    telemetry = ProcessTelemetry("dsr-worker", settings)
    client = telemetry.instrument_client(await connect_temporal(settings), connectors=True)

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(telemetry)  # metrics and probes, until workers stop
        workers: list[Worker] = []
        if orchestrator:
            store = await Store.open(settings.database_url)
            stack.push_async_callback(store.close)
            telemetry.watch_store(store)
            publisher = MeteredStatusPublisher(
                await stack.enter_async_context(KafkaStatusPublisher(settings))
            )
            infos = [describe(c, settings.connector_task_queue_prefix) for c in classes.values()]
            # Signed audit checkpoints at every completion and hourly (orchestrator.audit).
            record_store = await audit_checkpoints(settings, store, stack)
            acts = OrchestratorActivities(record_store, publisher, infos)
            workers.append(
                Worker(
                    client,
                    task_queue=settings.orchestrator_task_queue,
                    workflows=[DsrWorkflow, DsrWorkflowV1, ReconcileWorkflow],
                    workflow_runner=WORKFLOW_RUNNER,
                    activities=[
                        acts.list_connectors,
                        acts.publish_status,
                        acts.record_completion,
                        Reconciler(settings, client, store, publisher).reconcile_requests,
                    ],
                    graceful_shutdown_timeout=timedelta(seconds=5),
                )
            )
        instances = [cls.from_settings() for cls in selected.values()]
        for instance in instances:
            stack.push_async_callback(instance.aclose)
        workers.extend(_connector_workers(client, settings, instances))
        log.info(
            "workers started",
            orchestrator=orchestrator,
            connectors=sorted(selected),
            task_queues=[w.task_queue for w in workers],
        )
        running = [asyncio.create_task(w.run()) for w in workers]
        if orchestrator:
            await ensure_reconcile_schedule(client, settings)  # idempotent: one schedule
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*running, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("worker failed", error_type=type(task.exception()).__name__)
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        log.info("workers stopped")
