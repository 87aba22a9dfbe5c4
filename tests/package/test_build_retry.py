"""A retried `build_package` never gives the subject less: the parts are deleted only once the
package is recorded, and a retry that finds them gone (the expiry timer or the audit failed,
the worker died, even halfway through deleting them) gets the committed package of that same
build back, verified against its manifest, unchanged. A build that cannot be served that way
(another kind, a later call, a package that does not verify, no package at all) is refused with
`PartsMissing` and writes nothing; a rebuild from new parts includes them. Over both backends."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from orchestrator.package import PartsMissing
from orchestrator.package._builder import MANIFEST_NAME, archive_key, build_package, manifest_key
from orchestrator.package._crypto import StreamSealer
from orchestrator.store import Store
from policy.loader import load_policy
from schemas.package import PackageBuild, PackagedSystem, PackageRef
from schemas.records import AuditAction
from tests.package.conftest import PackageKit, read_object, write_object
from workflows.activities import PackagingActivities

CREATED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
EMAIL = "anna.lindqvist@example.se"
FULL = {
    "billing/contact.json",
    "billing/contact.csv",
    "billing/invoices.json",
    "billing/invoices.csv",
    "support/tickets.json",
    "support/tickets.csv",
    "information_sv.md",
}


async def _export(kit: PackageKit, request_id: str, invoices: int = 2) -> list[PackagedSystem]:
    billing = await kit.exports.open(request_id, "billing")
    await billing.write("contact", {"email": EMAIL, "name": "Anna Lindqvist"})
    for number in range(invoices):
        await billing.write("invoices", {"number": f"F-{number}", "sum": 99})
    await billing.finish()
    support = await kit.exports.open(request_id, "support")
    await support.write("tickets", {"subject": "Hjälp", "requester": EMAIL})
    await support.finish()
    return [
        PackagedSystem(system="billing", counts={"contact": 1, "invoices": invoices}),
        PackagedSystem(system="support", counts={"tickets": 1}),
    ]


def _call(request_id: str, systems: list[PackagedSystem], **changes: Any) -> PackageBuild:
    fields: dict[str, Any] = {
        "request_id": request_id,
        "kind": "access",
        "locale": "sv",
        "created_at": CREATED,
        "systems": systems,
    }
    return PackageBuild(**(fields | changes))


async def _paths(kit: PackageKit, request_id: str) -> set[str]:
    return {f.path for f in (await kit.service.manifest(request_id)).files}


async def _stored(kit: PackageKit, request_id: str) -> tuple[bytes, bytes]:
    return (
        await read_object(kit.storage, archive_key(request_id)),
        await read_object(kit.storage, manifest_key(request_id)),
    )


async def test_a_retry_after_the_package_was_recorded_returns_it_unchanged(
    kit: PackageKit, tmp_path: Path
) -> None:
    call = _call("req-retry-recorded", await _export(kit, "req-retry-recorded"))
    first = await kit.service.build(call)
    assert await kit.storage.list("requests/req-retry-recorded/parts") == [], "parts deleted"
    stored = await _stored(kit, "req-retry-recorded")
    # ... the expiry timer or the audit fails here: Temporal retries the same call.
    second = await kit.service.build(call)
    assert second == first, "the same package, not a smaller rebuild"
    assert await _stored(kit, "req-retry-recorded") == stored, "nothing rewritten"
    assert await _paths(kit, "req-retry-recorded") == FULL
    assert await kit.key_store.get_package("req-retry-recorded") == first
    out = tmp_path / "handover"
    await kit.service.extract("req-retry-recorded", out)
    invoices = json.loads((out / "billing" / "invoices.json").read_text())
    assert [i["number"] for i in invoices] == ["F-0", "F-1"]


async def test_a_failure_before_the_package_is_recorded_keeps_the_parts(
    kit: PackageKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = _call("req-retry-unsaved", await _export(kit, "req-retry-unsaved"))
    save = kit.key_store.save_package
    failures = [RuntimeError("the store is down")]

    async def flaky_save(ref: PackageRef) -> PackageRef:
        if failures:
            raise failures.pop()
        return await save(ref)

    monkeypatch.setattr(kit.key_store, "save_package", flaky_save)
    with pytest.raises(RuntimeError, match="store is down"):
        await kit.service.build(call)
    assert len(await kit.storage.list("requests/req-retry-unsaved/parts")) == 3
    ref = await kit.service.build(call)
    assert ref.files == len(FULL) + 1 and await _paths(kit, "req-retry-unsaved") == FULL
    assert await kit.key_store.get_package("req-retry-unsaved") == ref


async def test_a_crash_halfway_through_deleting_the_parts(kit: PackageKit) -> None:
    call = _call("req-retry-halfway", await _export(kit, "req-retry-halfway"))
    committed, _ = await build_package(call, load_policy(None), kit.storage, kit.keys)
    stored = await _stored(kit, "req-retry-halfway")
    await kit.storage.delete_prefix("requests/req-retry-halfway/parts/billing")  # support stays
    assert await kit.service.build(call) == committed
    assert await _stored(kit, "req-retry-halfway") == stored
    assert await _paths(kit, "req-retry-halfway") == FULL
    assert await kit.storage.list("requests/req-retry-halfway/parts") == []


async def test_the_real_activity_retried_after_its_timer_failed(kit: PackageKit) -> None:
    """`PackagingActivities.build_package` as the worker runs it; the expiry timer's start fails
    once (Temporal unreachable) after the package was built and recorded, and the retry
    completes with the same package, one timer and one audit event."""

    class FlakyClient:
        def __init__(self) -> None:
            self.failures = 1
            self.started: list[str] = []

        async def start_workflow(self, *args: object, id: str, **options: object) -> None:
            if self.failures:
                self.failures -= 1
                raise RuntimeError("Temporal is unreachable")
            self.started.append(id)

    request_id = "req-retry-activity"
    call = _call(request_id, await _export(kit, request_id))
    client = FlakyClient()
    environment = ActivityEnvironment(client)  # type: ignore[arg-type]
    environment.info = dataclasses.replace(environment.info, task_queue="orchestrator")
    async with await Store.open(kit.database_url) as store:
        activities = PackagingActivities(kit.service, store)
        with pytest.raises(RuntimeError, match="unreachable"):
            await environment.run(activities.build_package, call)
        first = await kit.key_store.get_package(request_id)
        ref = await environment.run(activities.build_package, call)
        trail = await store.audit_trail(request_id)
    assert ref == first and ref.files == len(FULL) + 1
    assert await _paths(kit, request_id) == FULL
    assert client.started == [f"package-expiry-{request_id}"]
    assert [e.action for e in trail] == [AuditAction.PACKAGE_CREATED]
    assert trail[0].details["files"] == len(FULL) + 1


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "portability"},  # another kind of build for the request
        {"locale": "en"},
        {"created_at": CREATED + timedelta(days=1)},  # a later build call
    ],
    ids=["other-kind", "other-locale", "later-call"],
)
async def test_another_build_with_the_parts_gone_is_refused(
    kit: PackageKit, changes: dict[str, Any]
) -> None:
    systems = await _export(kit, "req-retry-other")
    first = await kit.service.build(_call("req-retry-other", systems))
    stored = await _stored(kit, "req-retry-other")
    with pytest.raises(PartsMissing, match="another build"):
        await kit.service.build(_call("req-retry-other", systems, **changes))
    assert await _stored(kit, "req-retry-other") == stored
    assert await kit.key_store.get_package("req-retry-other") == first


async def test_a_category_the_package_lacks_is_refused(kit: PackageKit) -> None:
    systems = await _export(kit, "req-retry-lacks")
    await kit.service.build(_call("req-retry-lacks", systems))
    more = [*systems, PackagedSystem(system="hosting", counts={"accounts": 1})]
    with pytest.raises(PartsMissing, match="lacks hosting/accounts"):
        await kit.service.build(_call("req-retry-lacks", more))


async def test_a_rebuild_from_new_parts_includes_them(kit: PackageKit, tmp_path: Path) -> None:
    """A later build (another run of the request, after a DPO retry) with new exports: the new
    package is built from the new parts, not returned from the old one."""
    first = await kit.service.build(_call("req-rebuild", await _export(kit, "req-rebuild")))
    systems = await _export(kit, "req-rebuild", invoices=5)
    later = CREATED + timedelta(days=2)
    second = await kit.service.build(_call("req-rebuild", systems, created_at=later))
    assert second.sha256 != first.sha256 and second.expires_at == later + timedelta(days=30)
    manifest = await kit.service.manifest("req-rebuild")
    records = {f.path: f.records for f in manifest.files}
    assert records["billing/invoices.json"] == 5 and manifest.created_at == later
    await kit.service.extract("req-rebuild", tmp_path / "out")
    assert len(json.loads((tmp_path / "out" / "billing" / "invoices.json").read_text())) == 5


async def test_a_stored_package_that_does_not_verify_is_not_returned(kit: PackageKit) -> None:
    call = _call("req-retry-tampered", await _export(kit, "req-retry-tampered"))
    await kit.service.build(call)
    archive = bytearray(await read_object(kit.storage, archive_key("req-retry-tampered")))
    archive[len(archive) // 2] ^= 0x01
    await write_object(kit.storage, archive_key("req-retry-tampered"), bytes(archive))
    with pytest.raises(PartsMissing, match="does not verify"):
        await kit.service.build(call)
    assert await read_object(kit.storage, archive_key("req-retry-tampered")) == archive


async def test_a_manifest_that_disagrees_with_the_archive_is_not_trusted(
    kit: PackageKit,
) -> None:
    """The archive authenticates, but the manifest beside it lists another digest (as if from
    another build): the archive's files are checked, not just the manifest's fields."""
    request_id = "req-retry-manifest"
    call = _call(request_id, await _export(kit, request_id))
    await kit.service.build(call)
    manifest = await kit.service.manifest(request_id)
    files = [
        f.model_copy(update={"sha256": hashlib.sha256(b"other").hexdigest()})
        if f.path == "billing/contact.json"
        else f
        for f in manifest.files
    ]
    sealer = StreamSealer((await kit.keys.keys_for(request_id)).package, request_id, MANIFEST_NAME)
    other = manifest.model_copy(update={"files": files}).model_dump_json(indent=2).encode()
    await write_object(kit.storage, manifest_key(request_id), sealer.seal(other) + sealer.finish())
    with pytest.raises(PartsMissing, match=re.escape("billing/contact.json does not match")):
        await kit.service.build(call)


async def test_no_parts_and_no_package_writes_nothing(kit: PackageKit) -> None:
    systems = [PackagedSystem(system="billing", counts={"contact": 1})]
    with pytest.raises(PartsMissing, match="no package of it is stored"):
        await kit.service.build(_call("req-retry-nothing", systems))
    assert await kit.storage.list("requests/req-retry-nothing") == []
    assert await kit.key_store.get_package("req-retry-nothing") is None
