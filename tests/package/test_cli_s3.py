"""`dsr package show|extract` and `dsr shred verify` with the packages in an S3 bucket (real
s3rver, real Temporal dev server for the history check, SQLite store), configured only through
DSR_* settings as an operator would: the worker-side service built by `storage_from_settings`
writes the package, the CLI reads, hands over and judges it; after the expiry the object is gone
from the bucket; a storage failure is one clean line without the credentials."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from devstack.localstack import free_port, temporal_dev_server
from orchestrator.cli import app
from orchestrator.datakeys import DataKeyRing
from orchestrator.package import EncryptedExportParts, PackageService, storage_from_settings
from orchestrator.package._s3 import S3Storage
from orchestrator.settings import get_settings
from orchestrator.store._keys import KeyStore
from policy.loader import load_policy
from schemas.package import ExpiryCall, PackageBuild, PackagedSystem, PackageRef
from tests.package.conftest import BUCKET, S3Server

EMAIL = "berit.holm@example.se"


@pytest.fixture(scope="module")
def temporal_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("temporal")
    port = free_port()
    server = temporal_dev_server(port, root / "temporal.db", root / "logs")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_env(
    tmp_path: Path, s3rver: S3Server, temporal_address: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    env = {
        "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}",
        "DSR_PAYLOAD_KEYS": "m1:" + base64.b64encode(os.urandom(32)).decode(),
        "DSR_TEMPORAL_ADDRESS": temporal_address,
        # No broker: `shred verify` reports the DLQ unchecked, and so never "shredded".
        "DSR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "DSR_PACKAGE_DIR": str(tmp_path / "must-stay-empty"),
        "DSR_PACKAGE_STORAGE": "s3",
        "DSR_PACKAGE_S3_ENDPOINT": s3rver.endpoint,
        "DSR_PACKAGE_S3_BUCKET": BUCKET,
        "DSR_PACKAGE_S3_PREFIX": f"cli-{uuid.uuid4().hex[:8]}/",
        "DSR_PACKAGE_S3_ACCESS_KEY_ID": s3rver.access_key_id,
        "DSR_PACKAGE_S3_SECRET_ACCESS_KEY": s3rver.secret_access_key,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


class Side:
    """The worker's side, built from the same settings: the service over S3 storage."""

    def __init__(self) -> None:
        self.settings = get_settings()

    async def run(self, step: str, request_id: str) -> PackageRef | None:
        key_store = await KeyStore.open(self.settings.database_url)
        try:
            keys = DataKeyRing(self.settings.payload_key_ring(), store=key_store)
            storage = storage_from_settings(self.settings)
            assert isinstance(storage, S3Storage)
            service = PackageService(storage, keys, key_store, load_policy(None))
            if step == "build":
                sink = await EncryptedExportParts(storage, keys).open(request_id, "billing")
                await sink.write("contact", {"email": EMAIL, "name": "Berit Holm"})
                await sink.finish()
                return await service.build(
                    PackageBuild(
                        request_id=request_id,
                        kind="access",
                        locale="en",
                        created_at=datetime.now(UTC),
                        systems=[PackagedSystem(system="billing", counts={"contact": 1})],
                    )
                )
            if step == "expire":
                ref = await key_store.get_package(request_id)
                assert ref is not None
                later = ref.expires_at + timedelta(seconds=1)
                await service.expire(ExpiryCall(request_id=request_id, expires_at=later), later)
                assert await storage.list(f"requests/{request_id}") == []
            if step == "destroy":
                assert await keys.destroy(request_id)
            return None
        finally:
            await key_store.close()


def _dsr(*args: str) -> tuple[int, str]:
    """Exit code and stdout (the JSON); stderr (log lines, errors) is appended after it."""
    get_settings.cache_clear()
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def _json(output: str) -> dict[str, Any]:
    document: dict[str, Any] = json.JSONDecoder().raw_decode(output)[0]
    return document


def test_show_extract_verify_and_expire_through_s3(
    s3_env: dict[str, str], tmp_path: Path, s3rver: S3Server
) -> None:
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    side = Side()
    ref = asyncio.run(side.run("build", request_id))
    assert ref is not None
    assert not (tmp_path / "must-stay-empty").exists() or not any(
        (tmp_path / "must-stay-empty").iterdir()
    ), "S3 storage writes nothing to DSR_PACKAGE_DIR"
    prefix = s3rver.data_dir / BUCKET / s3_env["DSR_PACKAGE_S3_PREFIX"].rstrip("/")
    stored = [p for p in prefix.rglob("*_object")]
    assert len(stored) == 2 and all(EMAIL.encode() not in p.read_bytes() for p in stored)

    code, output = _dsr("package", "show", request_id, "--json")
    assert code == 0, output
    shown = _json(output)
    assert {f["path"] for f in shown["files"]} >= {"billing/contact.json", "billing/contact.csv"}
    assert shown["package"]["sha256"] == ref.sha256

    handover = tmp_path / "handover"
    code, output = _dsr("package", "extract", request_id, str(handover))
    assert code == 0, output
    contact = json.loads((handover / "billing" / "contact.json").read_text())
    assert contact == [{"email": EMAIL, "name": "Berit Holm"}]
    for file in shown["files"]:
        assert hashlib.sha256((handover / file["path"]).read_bytes()).hexdigest() == file["sha256"]

    code, output = _dsr("shred", "verify", request_id, "--json")
    assert code == 1, output
    verdict = _json(output)
    assert verdict["package"] == {"stored": True, "deleted_at": None, "decryptable": True}

    asyncio.run(side.run("expire", request_id))  # the request is open: the key stays
    code, output = _dsr("package", "show", request_id)
    assert code == 1 and "no package stored" in output
    code, output = _dsr("shred", "verify", request_id, "--json")
    after = _json(output)["package"]
    assert code == 1 and after["stored"] is False and after["deleted_at"] is not None
    assert after["decryptable"] is None  # nothing stored to try

    asyncio.run(side.run("destroy", request_id))
    code, output = _dsr("shred", "verify", request_id, "--json")
    verdict = _json(output)
    # Key, history and package all undecryptable, but the DLQ could not be read: no proof.
    assert verdict["key"]["destroyed"] is True and verdict["package"]["stored"] is False
    assert verdict["dlq"]["checked"] is False
    assert code == 1 and verdict["shredded"] is False
    code, output = _dsr("shred", "verify", request_id)
    assert code == 1 and "not shredded (unverified: the DLQ was not read)" in output


def test_a_storage_failure_is_one_line_without_credentials(
    s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    asyncio.run(Side().run("build", request_id))
    monkeypatch.setenv("DSR_PACKAGE_S3_ACCESS_KEY_ID", "AKIANOTTHEKEY0000000")
    monkeypatch.setenv("DSR_PACKAGE_S3_SECRET_ACCESS_KEY", "not-the-secret-Hunter2")
    for command in (["package", "show", request_id], ["shred", "verify", request_id]):
        code, output = _dsr(*command)
        assert code == 1
        assert "the package storage failed" in output and "InvalidAccessKeyId" in output
        assert "Hunter2" not in output and "AKIANOTTHEKEY" not in output
        assert "Traceback" not in output
