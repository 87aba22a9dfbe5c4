"""The access package, built from encrypted parts exactly as the worker builds it: manifest with
sha256 per file, one JSON and one CSV per system and category, the Art. 15 document in the
request's locale, portability limited to portable categories (exported by the real billing
connector through the connector activity) with what it left out named, and no plaintext at rest
— in the local directory and in an S3 bucket (`kit` runs every test over both backends)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from connectors.billing import BillingConnector
from orchestrator.datakeys import DataKeyMissing, DataKeyRing
from orchestrator.package import FilesystemStorage, PackageCorrupt
from orchestrator.package._builder import archive_key, manifest_key
from policy.planner import plan_request
from sandbox.billing import seed_billing, seeded_customer
from schemas.events import RequestKind
from schemas.identifiers import IdentifierType
from schemas.package import PackageBuild, PackagedSystem
from schemas.subject import Identifier, SubjectRef
from schemas.workflow import ConnectorCall
from tests.package.conftest import PackageKit, read_object, write_object
from workflows.activities import ConnectorActivities

EMAIL = "anna.lindqvist@example.se"
PNR = "198112189876"
NAME = "Anna Lindqvist"
CREATED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
SEED = 7  # billing sandbox: customer 0 has a contact, invoices, payments, a card and logins


async def _export(kit: PackageKit, request_id: str) -> list[PackagedSystem]:
    billing = await kit.exports.open(request_id, "billing")
    await billing.write("contact", {"email": EMAIL, "name": NAME, "pnr": PNR, "phone": None})
    for number in range(3):
        await billing.write(
            "invoices",
            {"number": f"F-{number}", "lines": [{"text": "Webbhotell", "amount": 99}], "sum": 99},
        )
    await billing.write("card_tokens", {"last4": "4242", "brand": "visa"})
    billing_artifact = await billing.finish()
    assert billing_artifact.records == 5 and billing_artifact.uri.startswith("dsr-parts:")
    support = await kit.exports.open(request_id, "support")
    await support.write("tickets", {"subject": f"Hjälp {NAME}", "requester": EMAIL, "tags": ["a"]})
    await support.finish()
    return [
        PackagedSystem(system="billing", counts={"contact": 1, "invoices": 3, "card_tokens": 1}),
        PackagedSystem(system="support", counts={"tickets": 1}),
        PackagedSystem(system="newsletter", counts={}),
    ]


def _plaintext_on_disk(kit: PackageKit) -> list[str]:
    """Files holding the subject in clear, in every folder the kit keeps data in."""
    hits = []
    for root in kit.at_rest:
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if any(s.encode() in data for s in (EMAIL, PNR, NAME, "Lindqvist")):
                    hits.append(str(path))
    return hits


def _files_at_rest(kit: PackageKit) -> int:
    return sum(1 for root in kit.at_rest[1:] for path in root.rglob("*") if path.is_file())


async def test_access_package_round_trip_in_swedish(kit: PackageKit, tmp_path: Path) -> None:
    systems = await _export(kit, "req-roundtrip-sv")
    assert _plaintext_on_disk(kit) == [], "parts must be encrypted where written"
    parts = await kit.storage.list("requests/req-roundtrip-sv/parts")
    assert len(parts) == 4 and all(p.endswith(".enc") for p in parts)

    ref = await kit.service.build(
        PackageBuild(
            request_id="req-roundtrip-sv",
            kind="access",
            locale="sv",
            created_at=CREATED,
            systems=systems,
        )
    )
    assert ref.expires_at == datetime(2026, 12, 31, 10, 0, tzinfo=UTC)  # policy: 30 days
    stored = await read_object(kit.storage, archive_key("req-roundtrip-sv"))
    assert hashlib.sha256(stored).hexdigest() == ref.sha256 and len(stored) == ref.size_bytes
    if isinstance(kit.storage, FilesystemStorage):
        path = kit.storage.root / archive_key("req-roundtrip-sv")
        assert path.stat().st_mode & 0o077 == 0
    else:
        assert _files_at_rest(kit) > 0, "the objects are in the S3 server's folder"
    assert _plaintext_on_disk(kit) == [], "no plaintext anywhere: package, parts, store"
    assert await kit.storage.list("requests/req-roundtrip-sv/parts") == [], "parts deleted"
    assert await kit.storage.list("requests/req-roundtrip-sv") == sorted(
        [archive_key("req-roundtrip-sv"), manifest_key("req-roundtrip-sv")]
    )
    assert (await kit.key_store.get_package("req-roundtrip-sv")) == ref

    manifest = await kit.service.manifest("req-roundtrip-sv")
    paths = {f.path for f in manifest.files}
    assert paths == {
        "billing/contact.json",
        "billing/contact.csv",
        "billing/invoices.json",
        "billing/invoices.csv",
        "billing/card_tokens.json",
        "billing/card_tokens.csv",
        "support/tickets.json",
        "support/tickets.csv",
        "information_sv.md",
    }
    out = tmp_path / "handover"
    await kit.service.extract("req-roundtrip-sv", out)
    for file in manifest.files:
        assert hashlib.sha256((out / file.path).read_bytes()).hexdigest() == file.sha256
    invoices = json.loads((out / "billing/invoices.json").read_text())
    assert [i["number"] for i in invoices] == ["F-0", "F-1", "F-2"]
    rows = list(csv.DictReader(io.StringIO((out / "billing/invoices.csv").read_text())))
    assert len(rows) == 3 and json.loads(rows[0]["lines"]) == [{"text": "Webbhotell", "amount": 99}]
    contact = list(csv.DictReader(io.StringIO((out / "billing/contact.csv").read_text())))
    assert contact == [{"email": EMAIL, "name": NAME, "pnr": PNR, "phone": ""}]
    assert json.loads((out / "manifest.json").read_text())["request_id"] == "req-roundtrip-sv"

    information = (out / "information_sv.md").read_text()
    assert "Integritetsskyddsmyndigheten (IMY)" in information
    assert "Bokföringslagen (1999:1078) 7 kap. 2 §" in information  # retention of invoices
    assert "Ändamål" in information and "Mottagare" in information and "Källa" in information
    assert "Kortinlösare" in information  # the card tokens' recipient
    assert "Nyhetsbrev" in information  # a system that holds nothing is still listed


@pytest.fixture(scope="module")
async def billing_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('billing') / 'billing.db'}"
    await seed_billing(url, 10, SEED)
    return url


async def test_portability_holds_only_portable_categories_in_english(
    kit: PackageKit, billing_url: str, tmp_path: Path
) -> None:
    """Portability the worker's way: the real billing connector's export run by the connector
    activity with the request's plan, the build input made as DsrWorkflow._package makes it.
    The activity writes nothing of what the plan skips and reports no count for it, so the
    manifest can name what was held but left out (`excluded`, printed by `dsr package show`)
    only because the plan's skipped categories travel with the build; a call counting invoices
    for portability, as no activity reports, hid that it never did."""
    customer = seeded_customer(0, SEED).customer
    subject = SubjectRef(
        identifiers=(Identifier(type=IdentifierType.EMAIL, value=customer.email),),
        name=customer.name,
    )
    today = date(2026, 12, 1)
    billing = BillingConnector(billing_url)
    try:
        located = await billing.locate(subject)
        plan = plan_request(
            kit.service.policy, RequestKind.PORTABILITY, {"billing": located}, today
        ).for_system("billing")
        call = ConnectorCall(request_id="req-portable-en", subject=subject, today=today, plan=plan)
        exported = await ConnectorActivities(billing, kit.exports).export(call)
    finally:
        await billing.aclose()
    # legal obligation (bookkeeping) and legitimate interest: not portable (Art. 20(1)(a))
    assert plan.skipped == ("invoices", "login_sessions", "payments")
    assert {c for c, n in exported.counts.items() if n} == {"contact", "card_tokens"}

    await kit.service.build(
        PackageBuild(
            request_id="req-portable-en",
            kind="portability",
            locale="en",
            created_at=CREATED,
            systems=[
                PackagedSystem(
                    system="billing", counts=exported.counts, excluded=list(plan.skipped)
                )
            ],
        )
    )
    manifest = await kit.service.manifest("req-portable-en")
    assert manifest.excluded == {"billing": ["invoices", "login_sessions", "payments"]}
    paths = {f.path for f in manifest.files}
    assert {"billing/contact.json", "billing/card_tokens.json"} <= paths
    assert not {p for p in paths if p.startswith(("billing/invoices", "billing/login"))}
    await kit.service.extract("req-portable-en", tmp_path / "out")
    information = (tmp_path / "out" / "information_en.md").read_text()
    assert "Swedish Authority for Privacy Protection (IMY)" in information
    assert "data portability" in information


async def test_tampered_or_foreign_packages_do_not_open(kit: PackageKit, tmp_path: Path) -> None:
    systems = await _export(kit, "req-tamper-01")
    await kit.service.build(
        PackageBuild(
            request_id="req-tamper-01",
            kind="access",
            locale="sv",
            created_at=CREATED,
            systems=systems,
        )
    )
    data = bytearray(await read_object(kit.storage, archive_key("req-tamper-01")))
    data[len(data) // 2] ^= 0x01
    await write_object(kit.storage, archive_key("req-tamper-01"), bytes(data))
    with pytest.raises(PackageCorrupt):
        await kit.service.extract("req-tamper-01", tmp_path / "out")
    # Another master key cannot unwrap this request's data key.
    other = DataKeyRing({"m1": b"\x00" * 32}, store=kit.key_store)
    with pytest.raises(DataKeyMissing, match="does not unwrap"):
        await other.keys_for("req-tamper-01")
