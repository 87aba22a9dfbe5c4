"""`dsr package extract ID DIR` is all or nothing and owner-only: DIR new or empty (else
`HandoverDirectoryRefused`, nothing written); files 0600 and directories 0700 (DIR too) whatever
the umask; every file checked against the manifest in a private staging directory before any
of it is in DIR; on any failure (a checksum, a tampered archive, a member named to escape, a
member the manifest does not list) nothing is left in clear, in DIR or beside it. Extraction is
local work, so these run over the filesystem backend only."""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.package import ChecksumMismatch, HandoverDirectoryRefused, PackageCorrupt
from orchestrator.package._builder import ARCHIVE_NAME, MANIFEST_NAME, archive_key, manifest_key
from orchestrator.package._crypto import StreamSealer
from schemas.package import PackageBuild, PackagedSystem, PackageFile, PackageManifest
from tests.package.conftest import PackageKit, read_object, write_object

pytestmark = pytest.mark.parametrize("storage", ["local"], indirect=True)

CREATED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
EMAIL = "anna.lindqvist@example.se"


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The umask most shells have: without the fix, files came out 0644 and folders 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


async def _built(kit: PackageKit, request_id: str) -> None:
    sink = await kit.exports.open(request_id, "billing")
    await sink.write("contact", {"email": EMAIL})
    await sink.write("invoices", {"number": "F-1", "sum": 99})
    await sink.finish()
    await kit.service.build(
        PackageBuild(
            request_id=request_id,
            kind="access",
            locale="sv",
            created_at=CREATED,
            systems=[PackagedSystem(system="billing", counts={"contact": 1, "invoices": 1})],
        )
    )


def _modes(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): stat.S_IMODE(p.lstat().st_mode) for p in sorted(root.rglob("*"))
    }


def _clear_text(root: Path) -> list[str]:
    """Files under `root` holding the subject in clear (the package store holds ciphertext)."""
    return [
        str(p)
        for p in root.rglob("*")
        if p.is_file() and "packages" not in p.parts and EMAIL.encode() in p.read_bytes()
    ]


async def _seal(kit: PackageKit, request_id: str, name: str, data: bytes, key: str) -> None:
    package_key = (await kit.keys.keys_for(request_id, create=True)).package
    sealer = StreamSealer(package_key, request_id, name)
    await write_object(kit.storage, key, sealer.seal(data) + sealer.finish())


async def _forge(kit: PackageKit, request_id: str, members: dict[str, bytes]) -> None:
    """A package (sealed with the request's key, as only the orchestrator can) whose manifest
    lists `members` with their true digests: only the names are wrong."""
    manifest = PackageManifest(
        request_id=request_id,
        kind="access",
        locale="sv",
        created_at=CREATED,
        expires_at=CREATED + timedelta(days=30),
        policy_version="test",
        files=[
            PackageFile(
                path=name,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
                media_type="text/plain",
            )
            for name, data in members.items()
        ],
    )
    manifest_bytes = manifest.model_dump_json().encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
        archive.writestr(MANIFEST_NAME, manifest_bytes)
    await _seal(kit, request_id, ARCHIVE_NAME, buffer.getvalue(), archive_key(request_id))
    await _seal(kit, request_id, MANIFEST_NAME, manifest_bytes, manifest_key(request_id))


async def test_extraction_is_owner_only(kit: PackageKit, tmp_path: Path) -> None:
    await _built(kit, "req-extract-modes")
    out = tmp_path / "handover"
    manifest = await kit.service.extract("req-extract-modes", out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert _modes(out) == {
        "billing": 0o700,
        "billing/contact.csv": 0o600,
        "billing/contact.json": 0o600,
        "billing/invoices.csv": 0o600,
        "billing/invoices.json": 0o600,
        "information_sv.md": 0o600,
        "manifest.json": 0o600,
    }, "no staging directory, no decrypted archive left behind"
    assert len(manifest.files) == 5


async def test_an_existing_empty_directory_is_made_private(kit: PackageKit, tmp_path: Path) -> None:
    await _built(kit, "req-extract-empty")
    out = tmp_path / "handover"
    out.mkdir()
    os.chmod(out, 0o755)  # noqa: S103 -- the operator's directory, as it may be
    await kit.service.extract("req-extract-empty", out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert (out / "billing" / "contact.json").is_file()


async def test_a_directory_in_use_is_refused(kit: PackageKit, tmp_path: Path) -> None:
    await _built(kit, "req-extract-busy")
    out = tmp_path / "handover"
    out.mkdir()
    (out / "notes.txt").write_text("someone else's")
    with pytest.raises(HandoverDirectoryRefused, match="not empty"):
        await kit.service.extract("req-extract-busy", out)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert (out / "notes.txt").read_text() == "someone else's"
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(HandoverDirectoryRefused, match="not a directory"):
        await kit.service.extract("req-extract-busy", a_file)


async def test_a_checksum_mismatch_leaves_nothing_in_clear(kit: PackageKit, tmp_path: Path) -> None:
    """A manifest that disagrees with the archive (the r5 reproduction): the files matched so
    far are not left in DIR."""
    request_id = "req-extract-mismatch"
    await _built(kit, request_id)
    manifest = await kit.service.manifest(request_id)
    files = [
        f.model_copy(update={"sha256": "0" * 64}) if f.path.endswith(".md") else f
        for f in manifest.files
    ]
    other = manifest.model_copy(update={"files": files})
    await _seal(
        kit, request_id, MANIFEST_NAME, other.model_dump_json().encode(), manifest_key(request_id)
    )
    new = tmp_path / "new"
    with pytest.raises(ChecksumMismatch, match=re.escape("information_sv.md")):
        await kit.service.extract(request_id, new)
    assert not new.exists(), "a directory this call created is removed again"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ChecksumMismatch):
        await kit.service.extract(request_id, empty)
    assert list(empty.iterdir()) == []
    assert _clear_text(tmp_path) == []


async def test_a_tampered_archive_leaves_nothing(kit: PackageKit, tmp_path: Path) -> None:
    await _built(kit, "req-extract-tampered")
    data = bytearray(await read_object(kit.storage, archive_key("req-extract-tampered")))
    data[-40] ^= 0x01  # the last chunk: everything before it decrypts and is written first
    await write_object(kit.storage, archive_key("req-extract-tampered"), bytes(data))
    out = tmp_path / "handover"
    with pytest.raises(PackageCorrupt):
        await kit.service.extract("req-extract-tampered", out)
    assert not out.exists() and _clear_text(tmp_path) == []


@pytest.mark.parametrize(
    "name", ["../../escaped.txt", "{absolute}", "a/../../../escaped.txt", "a\\..\\x.txt"]
)
async def test_member_names_cannot_escape(kit: PackageKit, tmp_path: Path, name: str) -> None:
    name = name.format(absolute=tmp_path / "escaped.txt")
    await _forge(kit, "req-extract-escape", {name: EMAIL.encode()})
    out = tmp_path / "deep" / "handover"
    with pytest.raises(PackageCorrupt, match="member named"):
        await kit.service.extract("req-extract-escape", out)
    assert not out.exists() and not (tmp_path / "escaped.txt").exists()
    assert _clear_text(tmp_path) == []


async def test_a_member_the_manifest_does_not_list_is_refused(
    kit: PackageKit, tmp_path: Path
) -> None:
    await _forge(kit, "req-extract-extra", {"billing/contact.json": EMAIL.encode()})
    buffer = io.BytesIO()
    manifest = await kit.service.manifest("req-extract-extra")
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("billing/contact.json", EMAIL.encode())
        archive.writestr("extra.json", EMAIL.encode())
        archive.writestr(MANIFEST_NAME, manifest.model_dump_json().encode())
    await _seal(
        kit,
        "req-extract-extra",
        ARCHIVE_NAME,
        buffer.getvalue(),
        archive_key("req-extract-extra"),
    )
    out = tmp_path / "handover"
    with pytest.raises(ChecksumMismatch, match="not the manifest's"):
        await kit.service.extract("req-extract-extra", out)
    assert not out.exists() and _clear_text(tmp_path) == []
