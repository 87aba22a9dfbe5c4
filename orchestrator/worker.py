"""Worker entry point: the orchestrator queue (workflow + store/status activities) and one task
queue per connector. `dsr worker` runs them; several processes may serve the same queues.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import hashlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from connectors.base import Connector, describe
from orchestrator.audit import audit_checkpoints
from orchestrator.datakeys import DataKeyRing
from orchestrator.logging import get_logger
from orchestrator.other_restrictions import OtherRestrictionsInForce
from orchestrator.package import EncryptedExportParts, PackageService, storage_from_settings
from orchestrator.reconcile import Reconciler, ensure_reconcile_schedule
from orchestrator.restriction_hold import HoldRestrictions
from orchestrator.settings import Settings, configured_connector_classes, load_configured_policy
from orchestrator.shredder import RetainOnClose, Shredder, ensure_shred_schedule
from orchestrator.shutdown import install_stop_handlers
from orchestrator.status_publisher import KafkaStatusPublisher
from orchestrator.store import Store
from orchestrator.telemetry import MeteredStatusPublisher, ProcessTelemetry
from orchestrator.temporal_client import connect_temporal_retrying
from workflows.activities import ConnectorActivities, OrchestratorActivities, PackagingActivities
from workflows.dsr import DsrWorkflow
from workflows.dsr_v1 import DsrWorkflowV1
from workflows.follow_up import DeferredErasureWorkflow
from workflows.lift_activities import LiftActivities
from workflows.lift_restriction import LiftRestrictionWorkflow
from workflows.packaging import PackageExpiryWorkflow
from workflows.reconcile import ReconcileWorkflow
from workflows.shredder import ShredSweepWorkflow

__all__ = ["WorkerFailed", "run_workers"]

log = get_logger(__name__)

# The sandbox re-imports the workflow's modules for every run and refuses non-deterministic
# calls (datetime.now, I/O, random). Passed through (imported once, shared) are only modules
# that are deterministic and hold no mutable state the workflow could leak between runs: our
# own contracts and rules (schemas, policy, which the workflow alone imports) and the libraries
# they stand on. Re-importing pydantic models per run cost about a quarter of the worker's CPU
# per request (bench/e2e.py); everything else stays sandboxed.
WORKFLOW_PASSTHROUGH = (
    "pydantic",
    "pydantic_core",
    "temporalio",
    "schemas",
    "policy",
    "email_validator",
)


class _CachedCodeLoader(importlib.machinery.SourceFileLoader):
    """A workflow module's loader that unmarshals its bytecode once per process: the sandbox
    executes the module afresh for every workflow run it creates (new runs and replays after an
    eviction), and each execution otherwise read and unmarshalled the .pyc again: about 90 KiB
    of code objects and 0.4 ms per run of DsrWorkflow (bench/peer_fides.py's 200-request burst
    holds 40-70 at once; a worker slowed down held 180, 16 MiB). Code objects are immutable, so runs
    sharing them keep the isolation the sandbox is for (each still gets its own module
    namespace, classes and functions). A workflow file edited under a running worker is picked
    up on restart, as any other module is."""

    _codes: dict[tuple[str, str], types.CodeType] = {}
    _lock = threading.Lock()

    def get_code(self, fullname: str) -> types.CodeType:
        key = (fullname, self.path)
        code = self._codes.get(key)
        if code is None:
            with self._lock:
                code = self._codes.get(key)
                if code is None:
                    built = super().get_code(fullname)
                    if built is None:  # SourceFileLoader always has code; keep mypy honest
                        raise ImportError(f"no code for {fullname}", name=fullname)
                    code = self._codes[key] = built
        return code


class _CachedCodeFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of `packages` as the path finder does, with `_CachedCodeLoader`."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = tuple(packages)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".", 1)[0] not in self.packages:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _CachedCodeLoader(spec.loader.name, spec.loader.path)
        return spec


def cache_workflow_code(packages: Sequence[str] = ("workflows",)) -> None:
    """Install `_CachedCodeFinder` for the sandboxed workflow packages (idempotent)."""
    if not any(isinstance(f, _CachedCodeFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _CachedCodeFinder(packages))


def freeze_startup_heap() -> None:
    """Move everything alive after start-up (modules, settings, workers: ~200k objects) out of
    the collector's reach. CPython runs a full collection only once the objects that survived
    into the oldest generation since the last one exceed a quarter of those it already holds;
    with the start-up heap in that count, the reference cycles every finished or evicted
    workflow run leaves (its sandbox modules, decoded payloads and policy, the exception that
    stopped its coroutines) waited for tens of thousands of objects: after a 20-request burst
    in bench/peer_fides.py all 20 finished DsrWorkflow runs were still in memory, and a full
    collection freed them. Frozen, that count is the workflows' own objects: full collections
    come as often as the garbage does, and each walks only what is not frozen."""
    gc.collect()  # start-up's own garbage is not frozen with it
    gc.freeze()
    gc.collect()  # counts the oldest generation afresh: only what is not frozen


WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*WORKFLOW_PASSTHROUGH)
)


class WorkerFailed(Exception):
    """The worker cannot serve (its schedules could not be set up, a Temporal worker died): it
    stops its workers and the process exits non-zero with this one line, never idles on."""


def subject_hash_key(settings: Settings) -> bytes:
    """DSR_SUBJECT_HASH_KEY (base64), or, when unset (a developer's stack), a key derived from
    the payload keys: stable while they are, and never an identifier-guessable constant."""
    configured = settings.subject_hash_key.get_secret_value()
    if configured:
        return base64.b64decode(configured)
    ring = settings.payload_key_ring()
    if not ring:
        raise ValueError("set DSR_SUBJECT_HASH_KEY (or DSR_PAYLOAD_KEYS) for subject hashing")
    log.warning("DSR_SUBJECT_HASH_KEY is not set: deriving it from the payload keys")
    first = ring[sorted(ring)[0]]
    return hashlib.sha256(b"dsr-subject-hash-key/v1\x00" + first).digest()


def _connector_workers(
    client: Client,
    settings: Settings,
    connectors: Sequence[Connector],
    exports: EncryptedExportParts,
) -> list[Worker]:
    workers = []
    for connector in connectors:
        acts = ConnectorActivities(connector, exports)
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

    cache_workflow_code()
    classes = configured_connector_classes(settings)  # DSR_CONNECTORS, checked by name
    if unknown := sorted(set(connectors or ()) - set(classes)):
        raise WorkerFailed(f"--connector names no connector served here: {', '.join(unknown)}")
    selected = classes if connectors is None else {n: classes[n] for n in connectors}
    # One Policy for every service of the process: it is frozen, and each load is ~110 KiB of
    # objects (the four services held four). Loaded before connecting: a bad DSR_POLICY_FILE
    # is one line at start, not after the wait for Temporal.
    policy = load_configured_policy(settings) if orchestrator else None
    # Before connecting: tracing and the Temporal runtime's metrics are set up per process.
    telemetry = ProcessTelemetry("dsr-worker", settings)
    # One key ring per process: the codec and the encrypting export sinks share its cache.
    data_keys = DataKeyRing(settings.payload_key_ring(), settings.database_url, pooled=True)
    # Temporal may not be up yet (`dsr up` starts it alongside; a cluster restarting): wait
    # for it with backoff, until SIGTERM, rather than exit and take the stack down with us.
    connected = await connect_temporal_retrying(settings, data_keys, stop=stop)
    if connected is None:
        await data_keys.aclose()
        log.info("workers stopped before Temporal was reachable")
        return
    client = telemetry.instrument_client(connected, connectors=True)
    package_storage = storage_from_settings(settings)  # DSR_PACKAGE_STORAGE: local | s3

    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(telemetry)  # metrics and probes, until workers stop
        stack.push_async_callback(data_keys.aclose)
        workers: list[Worker] = []
        if orchestrator:
            store = await Store.open(settings.database_url, pool_size=settings.store_pool_size)
            stack.push_async_callback(store.close)
            telemetry.watch_store(store)
            publisher = MeteredStatusPublisher(
                await stack.enter_async_context(KafkaStatusPublisher(settings))
            )
            infos = [describe(c, settings.connector_task_queue_prefix) for c in classes.values()]
            assert policy is not None  # loaded above for the orchestrator queue
            # Signed audit checkpoints at every completion and hourly (orchestrator.audit).
            # A closed request's key stays for the policy's readable-after-close period, and a
            # completed restriction's lift is held, waiting for the DPO, from its close on.
            hash_key = subject_hash_key(settings)
            record_store = HoldRestrictions(
                RetainOnClose(
                    await audit_checkpoints(settings, store, stack),
                    await data_keys.store(),
                    policy,
                ),
                client,
                settings.orchestrator_task_queue,
                subject_hash_key=hash_key,
            )
            acts = OrchestratorActivities(
                record_store,
                publisher,
                infos,
                policy=policy,
                subject_hash_key=hash_key,
            )
            shredder = Shredder(
                client,
                store,
                data_keys,
                await data_keys.store(),
                policy,
                # Keys made for dead letters of requests that never came: gone after the DLQ.
                orphan_after=timedelta(days=settings.dlq_retention_days + 1),
            )
            packaging = PackagingActivities(
                PackageService(
                    package_storage,
                    data_keys,
                    await data_keys.store(),
                    policy,
                ),
                record_store,
            )
            lifting = LiftActivities(record_store)
            # What a lift leaves restricted for another restriction of the subject in force.
            in_force = OtherRestrictionsInForce(record_store, client, hash_key)
            workers.append(
                Worker(
                    client,
                    task_queue=settings.orchestrator_task_queue,
                    workflows=[
                        DsrWorkflow,
                        DsrWorkflowV1,
                        PackageExpiryWorkflow,
                        DeferredErasureWorkflow,
                        LiftRestrictionWorkflow,
                        ReconcileWorkflow,
                        ShredSweepWorkflow,
                    ],
                    workflow_runner=WORKFLOW_RUNNER,
                    max_cached_workflows=settings.workflow_cache_size,
                    activities=[
                        acts.list_connectors,
                        acts.publish_status,
                        acts.record_completion,
                        acts.load_policy,
                        acts.check_repeat,
                        acts.append_follow_up,
                        acts.record_follow_up_decision,
                        packaging.build_package,
                        packaging.expire_package,
                        lifting.restriction_to_lift,
                        lifting.restricted_request,
                        lifting.record_restriction_lift,
                        in_force.other_restrictions_in_force,
                        Reconciler(
                            settings, client, store, publisher, calendar=policy.calendar()
                        ).reconcile_requests,
                        shredder.find_shreddable,
                        shredder.shred_request,
                    ],
                    graceful_shutdown_timeout=timedelta(seconds=5),
                )
            )
        instances = [cls.from_settings() for cls in selected.values()]
        for instance in instances:
            stack.push_async_callback(instance.aclose)
        exports = EncryptedExportParts(package_storage, data_keys)
        workers.extend(_connector_workers(client, settings, instances, exports))
        if orchestrator:
            # Before any worker runs: a schedule that cannot be set up (a wrong namespace, no
            # permission) ended in "Worker cancelled" with the process left idling until its
            # stop watchdog. Nothing has started yet, so the exit stack closes everything.
            try:
                await ensure_reconcile_schedule(client, settings)  # idempotent: one schedule
                await ensure_shred_schedule(client, settings)  # the shredding sweep, likewise
            except Exception as error:
                raise WorkerFailed(
                    f"the worker's Temporal schedules could not be set up "
                    f"({type(error).__name__}; is DSR_TEMPORAL_NAMESPACE right?)"
                ) from error
        log.info(
            "workers started",
            orchestrator=orchestrator,
            connectors=sorted(selected),
            task_queues=[w.task_queue for w in workers],
        )
        freeze_startup_heap()
        running = [asyncio.create_task(w.run()) for w in workers]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*running, stopper], return_when=asyncio.FIRST_COMPLETED)
        failed = [task for task in done if task is not stopper]
        errors = [None if task.cancelled() else task.exception() for task in failed]
        for failure in errors:
            if failure is not None:
                log.error("worker failed", error_type=type(failure).__name__)
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        stopper.cancel()
        log.info("workers stopped")
        if failed and not stop.is_set():  # a worker that ended by itself: the process too
            reason = type(errors[0]).__name__ if errors[0] is not None else "stopped by itself"
            raise WorkerFailed(f"a Temporal worker failed ({reason}); the others were stopped")
