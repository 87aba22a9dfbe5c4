"""`dsr` commands: access packages (encrypted archives) and crypto-shredding:
`dsr package show ID`, `dsr package extract ID DIR`, `dsr shred verify ID`, `dsr shred now
ID`, `dsr shred sweep`.

Imported by orchestrator.cli, which owns the Typer app; importing this module registers them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from orchestrator.cli import _actor, _fail, _settings, app, console
from orchestrator.datakeys import DataKeyDestroyed, DataKeyMissing, DataKeyRing
from orchestrator.package import (
    HandoverDirectoryRefused,
    PackageCorrupt,
    PackageService,
    StorageError,
    storage_from_settings,
)
from orchestrator.settings import Settings, load_configured_policy
from orchestrator.shred_history import history_verdict
from orchestrator.store._keys import KeyStore

__all__ = ["package_app", "shred_app"]

package_app = typer.Typer(help="Access packages: the encrypted archive of an access request.")
shred_app = typer.Typer(help="Crypto-shredding: a request's data key and what it protects.")
app.add_typer(package_app, name="package")
app.add_typer(shred_app, name="shred")


@asynccontextmanager
async def _service(settings: Settings) -> AsyncIterator[PackageService]:
    key_store = await KeyStore.open(settings.database_url)
    try:
        keys = DataKeyRing(settings.payload_key_ring(), store=key_store)
        yield PackageService(
            storage_from_settings(settings),
            keys,
            key_store,
            load_configured_policy(settings),
        )
    finally:
        await key_store.close()


def _unreadable(request_id: str, error: Exception) -> typer.Exit:
    if isinstance(error, DataKeyDestroyed):
        return _fail(f"the package of {request_id} is unreadable: its data key was destroyed")
    if isinstance(error, FileNotFoundError):
        return _fail(f"no package stored for {request_id} (never built, or expired and deleted)")
    if isinstance(error, StorageError):  # its message names the operation, never credentials
        return _fail(f"the package storage failed: {error}")
    return _fail(f"the package of {request_id} cannot be read: {error}")


@package_app.command("show")
def package_show(
    request_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="The manifest as JSON.")] = False,
) -> None:
    """Print the package's manifest: every file with its sha256, size and record count."""
    settings = _settings()

    async def run() -> None:
        async with _service(settings) as service:
            ref = await service.key_store.get_package(request_id)
            try:
                manifest = await service.manifest(request_id)
            except (DataKeyMissing, FileNotFoundError, PackageCorrupt, StorageError) as error:
                raise _unreadable(request_id, error) from None
        if as_json:
            document = manifest.model_dump(mode="json")
            document["package"] = ref.model_dump(mode="json") if ref else None
            console.print_json(json.dumps(document))
            return
        console.print(
            f"[bold]{manifest.request_id}[/bold] {manifest.kind} ({manifest.locale}), "
            f"created {manifest.created_at.isoformat()}, expires {manifest.expires_at.isoformat()}"
            f", policy {manifest.policy_version}"
        )
        if ref is not None:
            console.print(f"stored: {ref.location} ({ref.size_bytes} bytes, sha256 {ref.sha256})")
        table = Table("file", "records", "bytes", "sha256")
        for file in manifest.files:
            records = "" if file.records is None else str(file.records)
            table.add_row(file.path, records, str(file.size_bytes), file.sha256)
        console.print(table)
        for system, categories in sorted(manifest.excluded.items()):
            console.print(f"not portable, left out: {system}: {', '.join(categories)}")

    asyncio.run(run())


@package_app.command("extract")
def package_extract(request_id: str, directory: Path) -> None:
    """Decrypt the package into DIR for handing over, checking every file against the manifest.

    DIR then holds the subject's data in clear: hand it over and delete it."""
    settings = _settings()

    async def run() -> None:
        async with _service(settings) as service:
            try:
                manifest = await service.extract(request_id, directory)
            except HandoverDirectoryRefused as error:  # nothing was written
                raise _fail(str(error)) from None
            except PermissionError as error:
                raise _fail(
                    f"cannot write the package into {directory}: {error.strerror}"
                ) from None
            except (DataKeyMissing, FileNotFoundError, PackageCorrupt, StorageError) as error:
                raise _unreadable(request_id, error) from None
        console.print(
            f"extracted {len(manifest.files) + 1} files into {directory} "
            "(checksums verified against the manifest)"
        )

    asyncio.run(run())


@shred_app.command("verify")
def shred_verify(
    request_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="The verdict as JSON.")] = False,
) -> None:
    """Show whether the request is crypto-shredded: its data key destroyed, its Temporal history
    payloads, its package and its dead-letter copies undecryptable. Exits 1 unless all of that
    is shown: a DLQ topic that cannot be read is no proof, so the verdict is then "not
    shredded (unverified)"."""
    from orchestrator.dlq._verdict import dead_letter_copies

    settings = _settings()

    async def run() -> int:
        async with _service(settings) as service:
            try:  # a storage outage is no verdict: "undecryptable" must not be a guess
                report = await service.shred_report(request_id)
            except StorageError as error:
                raise _unreadable(request_id, error) from None
        history = await history_verdict(settings, request_id)
        dlq = await dead_letter_copies(settings, request_id)
        history_unreadable = history.readable == 0 and history.clear == 0
        package_unreadable = report.package_readable is not True
        shredded = (
            report.key_destroyed
            and history_unreadable
            and package_unreadable
            and dlq.checked
            and dlq.decryptable == 0
        )
        document: dict[str, Any] = {
            "request_id": request_id,
            "shredded": shredded,
            "key": {
                "known": report.key_known,
                "destroyed": report.key_destroyed,
                "destroyed_at": report.destroyed_at.isoformat() if report.destroyed_at else None,
                "retain_until": report.retain_until.isoformat() if report.retain_until else None,
            },
            "history": {
                "found": history.found,
                "request_payloads": history.request_payloads,
                "undecryptable": history.shredded,
                "decryptable": history.readable,
                "master_key_payloads": history.master_key,
                "master_key_readable": history.master_key_readable,
                "unencrypted_payloads": history.clear,
                "header_payloads": history.headers,
                "sdk_metadata_payloads": history.sdk_metadata,
            },
            "package": {
                "stored": report.package is not None and report.package.deleted_at is None,
                "deleted_at": (
                    report.package.deleted_at.isoformat()
                    if report.package and report.package.deleted_at
                    else None
                ),
                "decryptable": report.package_readable,
            },
            "dlq": dlq.as_dict(),
        }
        if as_json:
            console.print_json(json.dumps(document))
        else:
            key = document["key"]
            console.print(
                f"data key:  {'destroyed at ' + str(key['destroyed_at']) if report.key_destroyed else ('present' if report.key_known else 'none stored')}"  # noqa: E501
            )
            if history.found:
                console.print(
                    f"history:   {history.shredded} of {history.request_payloads} request "
                    f"payloads undecryptable, {history.readable} decryptable; "
                    f"{history.master_key} under the master key ({history.master_key_readable} "
                    "of them still decryptable and not known to hold no personal data), "
                    f"{history.clear} unencrypted, {history.headers} headers (trace context), "
                    f"{history.sdk_metadata} SDK markers (ids, times, patch ids)"
                )
            else:
                console.print("history:   not on the Temporal server (retention ended)")
            if report.package_readable is None:
                deleted = document["package"]["deleted_at"]
                console.print(f"package:   {'deleted at ' + deleted if deleted else 'none'}")
            else:
                console.print(
                    f"package:   {'decryptable' if report.package_readable else 'undecryptable'}"
                )
            if dlq.checked:
                console.print(
                    f"dlq:       {dlq.copies} dead-letter copies: {dlq.undecryptable} "
                    f"undecryptable, {dlq.expired} expired, {dlq.decryptable} decryptable "
                    f"({dlq.under_request_key} under the request's key)"
                )
            else:
                console.print(f"dlq:       not checked (the topic could not be read: {dlq.error})")
            if shredded:
                console.print("[green]shredded[/green]")
            elif (
                not dlq.checked
                and report.key_destroyed
                and history_unreadable
                and package_unreadable
            ):
                console.print("[yellow]not shredded (unverified: the DLQ was not read)[/yellow]")
            else:
                console.print("[yellow]not shredded[/yellow]")
        return 0 if shredded else 1

    code = asyncio.run(run())
    if code:
        raise typer.Exit(code)


async def _restriction_in_force(settings: Settings, request_id: str) -> bool:
    """Asked of Temporal; unreachable: `dsr shred now` refuses rather than guess."""
    from orchestrator.shredder import restriction_in_force
    from orchestrator.temporal_client import TemporalUnreachable, connect_temporal

    try:
        client = await connect_temporal(settings, creates_keys=False)
    except TemporalUnreachable:
        raise _fail(
            "Temporal is not reachable: cannot tell whether a restriction is in force"
        ) from None
    return await restriction_in_force(client, request_id)


@shred_app.command("now")
def shred_now(
    request_id: str,
    actor: Annotated[str, typer.Option("--actor", callback=_actor, help="Who decided (audited).")],
) -> None:
    """Shred a closed request at once (the DPO's decision, before its retention ends): destroy
    its data key (audited), which makes its history and package unreadable; the package's
    expiry timer still deletes the file. Refused while the request is open."""
    from datetime import UTC, datetime

    from orchestrator.store import Store
    from schemas.records import AuditAction, AuditEvent

    settings = _settings()

    async def run() -> None:
        async with _service(settings) as service:
            if not await service.key_store.request_closed(request_id):
                raise _fail(f"{request_id} is not closed: only a closed request can be shredded")
            if await _restriction_in_force(settings, request_id):
                raise _fail(
                    f"{request_id}'s restriction is in force: its hold needs the key to lift it "
                    "(dsr lift-restriction first; the key is shredded on the usual rules after)"
                )
            now = datetime.now(UTC)
            destroyed = await service.keys.destroy(request_id)
        async with await Store.open(settings.database_url) as store:
            if destroyed:
                await store.append_audit(
                    AuditEvent(
                        request_id=request_id,
                        action=AuditAction.DATA_KEY_DESTROYED,
                        actor=actor,
                        at=now,
                        details={"decision": "shred_now"},
                        dedupe_key=f"data-key/{request_id}/destroyed",
                    )
                )
        console.print(
            f"{request_id}: data key {'destroyed' if destroyed else 'already destroyed or none'}"
        )

    asyncio.run(run())


@shred_app.command("sweep")
def shred_sweep(
    max_requests: Annotated[int, typer.Option(help="Destroy at most this many keys.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Run the crypto-shredding sweep now (it also runs on the schedule the worker creates,
    every DSR_SHRED_INTERVAL): destroy the data key of every closed request that nothing needs
    any more — the policy's readable-after-close period over, no unexpired package, no
    deferred erasure still to run. Each destruction is audited."""
    import uuid

    from orchestrator.shredder import shred_workflow_id
    from orchestrator.temporal_client import connect_temporal
    from workflows.shredder import ShredSweepInput, ShredSweepReport, ShredSweepWorkflow

    settings = _settings()

    async def run() -> ShredSweepReport:
        client = await connect_temporal(settings)
        return await client.execute_workflow(
            ShredSweepWorkflow.run,
            ShredSweepInput(max_requests=max_requests),
            id=f"{shred_workflow_id(settings)}/manual-{uuid.uuid4().hex[:8]}",
            task_queue=settings.orchestrator_task_queue,
        )

    report = asyncio.run(run())
    if as_json:
        console.print_json(report.model_dump_json())
        return
    waiting = ", ".join(f"{n} for {why}" for why, n in sorted(report.waiting.items())) or "none"
    console.print(
        f"destroyed {len(report.destroyed)} data keys; waiting: {waiting}; "
        f"orphan keys deleted: {report.orphans_deleted}"
    )
    for request_id in report.destroyed:
        console.print(f"  {request_id}")
