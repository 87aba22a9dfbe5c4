"""The worker killed -9 while an erase is running in every connector at once: each erase in
flight at the kill is retried by a fresh worker, takes effect once, and reports what the
systems really hold.

"In flight at the kill" is what Temporal says, not a guess: the erases started and not
finished (pending activities) just before the SIGKILL, each with its attempt. An erase with
nothing to write (the registrar keeps an active registrant) may still finish in the moment
between that look and the kill: then it finished on that same attempt, and it is counted as
finished before the kill, not as retried.
"""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from aiokafka import AIOKafkaProducer
from temporalio.client import Client

from devstack.estate import SYSTEMS
from devstack.localstack import wait_until
from schemas.status import RequestStatus, SystemOutcome
from tests.faults._activities import finished_attempts, in_flight, running_everywhere
from tests.faults.conftest import (
    LONG,
    FaultStack,
    audit_actions,
    duplicated_effects,
    lost_audit,
    report,
    retained_count,
    sqlite_write_locks,
)
from tests.integration.conftest import completed, publish_signed, request_event, wait_for_workflow

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ROUNDS = 2 if LONG else 1


@pytest.mark.timeout(600)
async def test_worker_killed_mid_erase_in_every_connector(
    fault_stack: FaultStack, fault_temporal: Client, fault_producer: AIOKafkaProducer
) -> None:
    lost = duplicated = retried_total = 0
    for _ in range(ROUNDS):
        person = fault_stack.fresh_customer(needs=("contact", "invoices"), everywhere=True)
        billing_path = fault_stack.sqlite_path("billing")
        with contextlib.closing(sqlite3.connect(billing_path)) as db:
            (customer_id,) = db.execute(
                "SELECT id FROM customers WHERE email = ?", (person.email,)
            ).fetchone()
        # Every system's database write-locked: each connector can locate (read) but its
        # erase waits on the lock — five erases in flight at the moment of the kill.
        with sqlite_write_locks([fault_stack.sqlite_path(s) for s in SYSTEMS]):
            request_id = await publish_signed(
                fault_producer,
                fault_stack,
                request_event("erasure", {"email": person.email, "name": person.name}),
            )
            handle = await wait_for_workflow(fault_temporal, request_id)
            await running_everywhere(handle, "connector.erase", len(SYSTEMS))
            starts = _worker_starts(fault_stack)
            at_kill = await in_flight(handle, "connector.erase")
            fault_stack.restart_worker(kill=True)  # SIGKILL, then a fresh worker
            wait_until(lambda n=starts: _worker_starts(fault_stack) > n, 180, "a fresh worker")

        record = await completed(fault_temporal, request_id, timeout=300)
        by_system = {s.system: s for s in record.systems}
        assert record.status is RequestStatus.COMPLETED, {
            n: (s.outcome, s.reason) for n, s in by_system.items()
        }
        assert set(by_system) == set(SYSTEMS)
        for name, status in by_system.items():
            assert status.outcome in (SystemOutcome.DONE, SystemOutcome.RETAINED), (name, status)
        finished = await finished_attempts(handle, "connector.erase")
        # Every system's erase finished (one task queue per connector).
        assert len({queue for queue, _ in finished.values()}) == len(SYSTEMS), finished
        assert set(at_kill) <= set(finished), (at_kill, finished)
        # In flight at the kill and finished on a later attempt: retried by the fresh worker.
        # Finished on the attempt it was on at the kill: it beat the SIGKILL by a moment.
        retried = {finished[a][0] for a, attempt in at_kill.items() if finished[a][1] > attempt}
        beat_the_kill = {finished[a][0] for a, n in at_kill.items() if finished[a][1] == n}
        print(
            f"erases in flight at the kill: {len(at_kill)} of {len(SYSTEMS)}; retried after "
            f"it: {sorted(retried)}; finished just before it: {sorted(beat_the_kill)}"
        )
        assert retried, "no erase was in flight at the kill: the fault was not injected"
        assert all(finished[a][1] >= attempt for a, attempt in at_kill.items())
        retried_total += len(retried)

        with contextlib.closing(sqlite3.connect(billing_path)) as db:
            kept = db.execute(
                "SELECT count(*) FROM invoices WHERE customer_id = ?", (customer_id,)
            ).fetchone()[0]
            (status,) = db.execute(
                "SELECT status FROM customers WHERE id = ?", (customer_id,)
            ).fetchone()
        # An active customer: its row is kept for the contract (its services run), and said so.
        assert status == "active" and kept > 0
        assert retained_count(by_system["billing"], "contact") == 1
        assert retained_count(by_system["billing"], "invoices") == kept
        trails = await audit_actions(fault_stack, [request_id])
        lost += lost_audit(trails)
        duplicated += duplicated_effects(trails)

    report(
        "worker kill -9 mid-erase, every connector",
        faults=ROUNDS,
        requests=ROUNDS,
        lost=lost,
        duplicated=duplicated,
    )
    print(f"erases retried after a kill: {retried_total}")
    assert lost == 0 and duplicated == 0


def _worker_starts(stack: FaultStack) -> int:
    """How many workers have started so far (they all append to the same log)."""
    log = stack.root / "logs" / "worker.log"
    return log.read_text(errors="replace").count("workers started")
