"""`dsr` commands: DPO decisions on one request (confirm-identity, approve, deny, extend, cancel,
resolve, retry, skip, narrow, lift-restriction, retry-deferred-erasure): thin displays over the
DPO front door, orchestrator.dpo.

Each sends one Temporal Update (lift-restriction, on a closed restriction request, starts the
lift's workflow; retry-deferred-erasure goes to the request's deferred-erasure chain).
Accepted: prints the decision and where the request stands. Rejected (the workflow's validator
said no, nothing changed) or not running: prints the reason on stderr and exits 1; an invalid
argument exits 2.

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from pydantic import ValidationError

from orchestrator.cli import _fail, _settings, app, console
from orchestrator.intake._validation import safe_validation_detail
from schemas.identifiers import IdentifierType
from schemas.status import DenialCode, SystemOutcome
from schemas.workflow import DecisionReceipt

Actor = Annotated[str, typer.Option("--actor", help="Who decides (recorded in the audit trail).")]


def _run(
    request_id: str, send: Callable[..., Awaitable[DecisionReceipt]], **fields: object
) -> None:
    from orchestrator.dpo._decide import DecisionError
    from orchestrator.temporal_client import connect_temporal

    settings = _settings()

    async def go() -> DecisionReceipt:
        client = await connect_temporal(settings, creates_keys=False)  # decisions: never a new key
        return await send(client, request_id, **fields)

    try:
        receipt = asyncio.run(go())
    except DecisionError as error:
        raise _fail(f"rejected: {error}") from None
    except ValidationError as error:
        raise _fail(f"invalid decision: {safe_validation_detail(error)}", 2) from None
    due = f"  due {receipt.due_date.isoformat()}" if receipt.due_date else ""
    lift = f"  restriction {receipt.restriction.value}" if receipt.restriction else ""
    console.print(
        f"{receipt.decision} accepted for {receipt.request_id}: {receipt.status.value}{due}{lift}"
    )


@app.command("confirm-identity")
def confirm_identity(
    request_id: str,
    actor: Actor,
    method: Annotated[str, typer.Option(help="How identity was confirmed.")] = "manual_check",
) -> None:
    """Confirm the subject's identity so a waiting request proceeds."""
    from orchestrator.dpo import _decide

    _run(request_id, _decide.confirm_identity, actor=actor, method=method)


@app.command()
def approve(
    request_id: str,
    actor: Actor,
    note: Annotated[str, typer.Option()] = "",
) -> None:
    """Let a request waiting for a decision proceed (e.g. a repeated access request)."""
    from orchestrator.dpo import _decide

    _run(request_id, _decide.approve, actor=actor, note=note)


@app.command()
def deny(
    request_id: str,
    actor: Actor,
    code: Annotated[
        DenialCode | None, typer.Option("--code", help="Why the request is refused.")
    ] = None,
    note: Annotated[str, typer.Option(help="Required with --code other.")] = "",
) -> None:
    """Deny a request waiting for verification or a decision."""
    from orchestrator.dpo import _decide

    _run(request_id, _decide.deny, actor=actor, reason_code=code, note=note)


@app.command()
def extend(
    request_id: str,
    actor: Actor,
    months: Annotated[int, typer.Option(help="1 or 2 further months (Art. 12(3)).")],
    reason: Annotated[str, typer.Option(help="Told to the subject.")],
) -> None:
    """Extend the deadline once, by 1 or 2 months, before it passes."""
    from orchestrator.dpo import _decide

    _run(request_id, _decide.extend, actor=actor, months=months, reason=reason)


@app.command()
def cancel(
    request_id: str,
    actor: Actor,
    reason: Annotated[str, typer.Option()],
) -> None:
    """Cancel a waiting request (e.g. the subject withdrew it)."""
    from orchestrator.dpo import _decide

    _run(request_id, _decide.cancel, actor=actor, reason=reason)


@app.command()
def resolve(
    request_id: str,
    system: str,
    actor: Actor,
    note: Annotated[str, typer.Option(help="What was done by hand.")],
    outcome: Annotated[SystemOutcome, typer.Option(help="done or not_found.")] = (
        SystemOutcome.DONE
    ),
) -> None:
    """Record the outcome of a failed or manual system that was handled by hand."""
    from orchestrator.dpo import _decide

    _run(request_id, _decide.resolve_system, actor=actor, system=system, outcome=outcome, note=note)


@app.command()
def retry(request_id: str, system: str, actor: Actor) -> None:
    """Run a failed or manual system of the request again."""
    from orchestrator.dpo import _decide

    _run(request_id, _decide.retry_system, actor=actor, system=system)


@app.command()
def skip(
    request_id: str,
    system: str,
    actor: Actor,
    reason: Annotated[str, typer.Option()],
) -> None:
    """Skip a failed or manual system, with the reason."""
    from orchestrator.dpo import _decide

    _run(request_id, _decide.skip_system, actor=actor, system=system, reason=reason)


@app.command()
def narrow(
    request_id: str,
    actor: Actor,
    pnr: Annotated[
        str | None, typer.Option("--personal-identity-number", "--pnr", help="Personnummer.")
    ] = None,
    organisation_number: Annotated[str | None, typer.Option()] = None,
    customer_number: Annotated[str | None, typer.Option()] = None,
) -> None:
    """An ambiguous match: continue the request for the one person with this identifier."""
    from orchestrator.dpo import _decide

    given = [
        (kind, value)
        for kind, value in (
            (IdentifierType.PERSONAL_IDENTITY_NUMBER, pnr),
            (IdentifierType.ORGANISATION_NUMBER, organisation_number),
            (IdentifierType.CUSTOMER_NUMBER, customer_number),
        )
        if value
    ]
    if len(given) != 1:
        raise _fail("give exactly one of --pnr, --organisation-number, --customer-number", 2)
    [(kind, value)] = given
    _run(request_id, _decide.narrow_subject, actor=actor, identifier_type=kind, value=value)


@app.command("lift-restriction")
def lift_restriction(
    request_id: str,
    actor: Actor,
    note: Annotated[str, typer.Option(help="Why (e.g. 'accuracy verified'); told to the subject.")],
) -> None:
    """Lift the restriction of a closed restriction request (Art. 18): the subject is told
    first, then every restricted system is lifted; `dsr status` shows each system's result."""
    from orchestrator.dpo import _lift

    _run(request_id, _lift.lift_restriction, actor=actor, note=note)


@app.command("retry-deferred-erasure")
def retry_deferred_erasure(
    request_id: str,
    actor: Actor,
    note: Annotated[str, typer.Option(help="What was fixed (recorded in the audit trail).")] = "",
) -> None:
    """A closed request's deferred erasure failed in a system and waits up to a day to try
    again: try it now (the cause is fixed). `dsr status` shows the attempt's outcome."""
    from orchestrator.dpo import _deferred

    _run(request_id, _deferred.retry_deferred_erasure, actor=actor, note=note)
