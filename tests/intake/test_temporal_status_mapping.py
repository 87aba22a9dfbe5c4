"""Which Temporal refusals of StartWorkflowExecution are outages (the record stays in hand,
retried) and which are about the record (dead-lettered `unprocessable`). FAILED_PRECONDITION is
what the server answers for NamespaceNotActive / NamespaceInvalidState (a namespace failover or
handover) and for client/server version mismatches: a cluster condition, never a record's."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from orchestrator.intake._handler import TRANSIENT_TEMPORAL_STATUSES, IntakeOutcome
from schemas.workflow import workflow_id_for
from tests.intake.conftest import HandlerFactory, encode, record, valid_document

# Every status Temporal can answer a start with, and what it means for the record.
WAIT: set[RPCStatusCode] = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.INTERNAL,
    RPCStatusCode.UNKNOWN,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.PERMISSION_DENIED,
    RPCStatusCode.NOT_FOUND,
    RPCStatusCode.FAILED_PRECONDITION,
}
DEAD_LETTER: set[RPCStatusCode] = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.OUT_OF_RANGE,
    RPCStatusCode.UNIMPLEMENTED,
    RPCStatusCode.DATA_LOSS,
}


STATUSES: list[RPCStatusCode] = sorted([*WAIT, *DEAD_LETTER])


@pytest.mark.parametrize("status", STATUSES)
def test_each_status_is_either_waited_out_or_dead_lettered(status: RPCStatusCode) -> None:
    assert (status in TRANSIENT_TEMPORAL_STATUSES) is (status in WAIT)


def test_the_table_covers_every_status_but_ok_and_already_exists() -> None:
    """ALREADY_EXISTS is WorkflowAlreadyStartedError (a duplicate, a no-op); OK is no error."""
    others = set(RPCStatusCode) - WAIT - DEAD_LETTER
    assert others == {RPCStatusCode.OK, RPCStatusCode.ALREADY_EXISTS}
    assert TRANSIENT_TEMPORAL_STATUSES == WAIT


class _NamespaceFailingOver:
    """Temporal during a namespace failover: `Namespace ... is not active` (FAILED_PRECONDITION,
    details NamespaceNotActiveFailure), then `Namespace has invalid state: HANDOVER` (also
    FAILED_PRECONDITION, NamespaceInvalidStateFailure), then the start succeeds."""

    def __init__(self, then: Client) -> None:
        self.then = then
        self.refusals = [
            "Namespace: default is active in cluster: b, while current cluster a is standby",
            "Namespace has invalid state: Handover. Must be Registered.",
        ]
        self.calls = 0

    async def start_workflow(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.refusals:
            raise RPCError(self.refusals.pop(0), RPCStatusCode.FAILED_PRECONDITION, b"")
        return await self.then.start_workflow(*args, **kwargs)


@pytest.mark.integration
async def test_a_namespace_failover_is_waited_out_not_dead_lettered(
    make_handler: HandlerFactory, intake_client: Client
) -> None:
    client = _NamespaceFailingOver(intake_client)
    handler, collected = make_handler(client)
    document = valid_document()
    rid = document["data"]["request_id"]
    outcome = await handler.handle(record(encode(document), key=rid.encode()))
    assert outcome is IntakeOutcome.STARTED and client.calls == 3
    assert collected.letters == []
    handle = intake_client.get_workflow_handle(workflow_id_for(rid))
    assert (await handle.describe()).id == workflow_id_for(rid)
    await handle.terminate("test done")
