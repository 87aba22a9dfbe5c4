"""The access-package service: what the packaging activities, the CLI and `dsr shred verify` use.

Expiry is a durable timer, not a sweep: the workflow that built the package starts
`PackageExpiry` (workflows/packaging.py), which sleeps until `expires_at` and then calls
`expire`. One timer per package fires on the day (no polling, no schedule to keep alive), is
kept by the Temporal server across worker redeploys and crashes, and is tested on the
time-skipping server. It runs under its own workflow id (`package-expiry-<id>`), which belongs
to no request, so its few payloads (request id and dates) use the master key and it still runs
after the request's own data key is gone. `expired_packages` remains for an operator's sweep.

`expire` also crypto-shreds: once the request is closed and the key's `retain_until` (pushed on
by anything still needing the key: the package's expiry, a deferred erasure) has passed, the
request's data key is destroyed. Until then it reports when to look again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from orchestrator.datakeys import DataKeyMissing, DataKeyRing
from orchestrator.package._builder import build_package
from orchestrator.package._parts import parts_prefix, request_prefix
from orchestrator.package._reader import extract_package, read_manifest
from orchestrator.package._storage import PackageStorage
from orchestrator.store._keys import KeyStore
from policy.model import Policy
from schemas.package import ExpiryCall, ExpiryOutcome, PackageBuild, PackageManifest, PackageRef

__all__ = ["PackageService", "ShredReport"]

# How long to wait before looking again when the request is still open at the expiry.
RECHECK_OPEN_REQUEST = timedelta(days=1)


@dataclass(frozen=True)
class ShredReport:
    """What `dsr shred verify` shows about a request's key and package."""

    request_id: str
    key_known: bool
    key_destroyed: bool
    destroyed_at: datetime | None
    retain_until: datetime | None
    package: PackageRef | None
    package_readable: bool | None  # None: no package stored (never built, or deleted)


class PackageService:
    def __init__(
        self, storage: PackageStorage, keys: DataKeyRing, key_store: KeyStore, policy: Policy
    ) -> None:
        self.storage = storage
        self.keys = keys
        self.key_store = key_store
        self.policy = policy

    async def build(self, call: PackageBuild) -> PackageRef:
        """Build the package, record it, keep its key until the expiry, then delete the parts.

        The parts go last: until the package is recorded, a retry must be able to build it
        again from them. After that a retry (the activity still starts the expiry timer and
        audits) finds them gone and gets this package back, verified (`_committed`)."""
        ref, _ = await build_package(call, self.policy, self.storage, self.keys)
        await self.key_store.save_package(ref)
        await self.keys.retain(call.request_id, ref.expires_at)
        await self.storage.delete_prefix(parts_prefix(call.request_id))
        return ref

    async def expire(self, call: ExpiryCall, now: datetime) -> ExpiryOutcome:
        request_id = call.request_id
        retry: list[datetime] = []
        package_deleted = False
        package = await self.key_store.get_package(request_id)
        if package is not None and package.deleted_at is None:
            if package.expires_at <= now:
                await self.storage.delete_prefix(request_prefix(request_id))
                package_deleted = await self.key_store.mark_package_deleted(request_id, now)
            else:
                retry.append(package.expires_at)  # rebuilt or extended since the timer began
        key_destroyed = False
        stored = await self.key_store.get_data_key(request_id)
        if stored is not None and not stored.destroyed:
            if stored.retain_until is not None and stored.retain_until > now:
                retry.append(stored.retain_until)
            elif not await self.key_store.request_closed(request_id):
                retry.append(now + RECHECK_OPEN_REQUEST)
            elif not retry:
                key_destroyed = await self.keys.destroy(request_id)
        return ExpiryOutcome(
            package_deleted=package_deleted,
            key_destroyed=key_destroyed,
            retry_at=max(retry) if retry else None,
        )

    async def manifest(self, request_id: str) -> PackageManifest:
        return await read_manifest(request_id, self.storage, self.keys)

    async def extract(self, request_id: str, directory: Path) -> PackageManifest:
        return await extract_package(request_id, self.storage, self.keys, directory)

    async def shred_report(self, request_id: str) -> ShredReport:
        stored = await self.key_store.get_data_key(request_id)
        package = await self.key_store.get_package(request_id)
        readable: bool | None = None
        if package is not None and package.deleted_at is None:
            self.keys.forget(request_id)  # judge by the store, not by this process's cache
            try:
                await self.manifest(request_id)
                readable = True
            except (DataKeyMissing, FileNotFoundError):
                readable = False
        return ShredReport(
            request_id=request_id,
            key_known=stored is not None,
            key_destroyed=stored is not None and stored.destroyed,
            destroyed_at=stored.destroyed_at if stored else None,
            retain_until=stored.retain_until if stored else None,
            package=package,
            package_readable=readable,
        )
