"""The running desk for the API and dashboard tests: the session's real broker and Temporal
(tests/conftest.py), a seeded billing sandbox, the real worker and intake processes, the store
(SQLite), `dsr api` serving on a free port with one token per role, and `dsr codec-server` (the
Temporal Web UI's codec) beside it. Every process's output is captured in `logs/<name>.log`
under the stack's root (`DeskStack.logs`): the privacy test scans them all.

Lean on purpose: only the billing connector runs (DSR_CONNECTORS=billing), so a request finishes
in well under a second and the five-system estate stays the integration tests' business. The
API tests (tests/api) and the browser tests (tests/dashboard) share one instance: the fixture
is registered in both conftests, and a module-level reference count starts it once and stops it
after its last user.

`seed_known_requests` writes a set of requests with known outcomes straight into the store (as
the worker's status activity would), in a month no live request falls in: the report tests check
the figures against it by hand.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from devstack.localstack import ManagedProcess, free_port, wait_until
from orchestrator.auth import ApiToken, Role, format_api_tokens, generate_token, hash_token
from orchestrator.store import Store
from schemas.events import Channel, RequestKind
from schemas.records import RequestSummary
from schemas.status import (
    DecisionEntry,
    DecisionKind,
    Extension,
    RequestStatus,
    RetainedItem,
    RetentionReason,
    SystemOutcome,
    SystemStatus,
)
from tests.conftest import Infra
from tests.integration.conftest import SEED, Stack

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CUSTOMERS = 150
REPORT_MONTH = "2025-03"


@dataclass
class DeskStack:
    stack: Stack
    api: ManagedProcess
    base_url: str
    tokens: dict[str, str]  # role (and "dpo2") -> token
    codec: ManagedProcess | None = None
    codec_url: str = ""
    known: dict[str, RequestSummary] = field(default_factory=dict)

    @property
    def logs(self) -> dict[str, Path]:
        """The captured output of each of the stack's processes, by name."""
        processes = [self.stack.worker, self.stack.intake, self.api, self.codec]
        return {p.name: p.log_path for p in processes if p is not None}

    def client(self, role: str | None = "dpo", **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kwargs)

    def dsr_env(self) -> dict[str, str]:
        return self.stack.env


def _start(infra: Infra, root: Path) -> DeskStack:
    from sandbox.billing.seed import seed_billing

    billing_url = f"sqlite+aiosqlite:///{root / 'billing.db'}"
    seed = asyncio.run(seed_billing(billing_url, CUSTOMERS, SEED))
    tokens = {role.value: generate_token() for role in Role} | {"dpo2": generate_token()}
    configured = [
        ApiToken(name=f"test-{role.value}", role=role, sha256=hash_token(tokens[role.value]))
        for role in Role
    ] + [ApiToken(name="test-dpo2", role=Role.DPO, sha256=hash_token(tokens["dpo2"]))]
    port, codec_port = free_port(), free_port()
    # Its own topics and task queues: it shares the session's broker and Temporal with the
    # integration stack, whose intake and worker would otherwise take its events and tasks
    # (and fail to open payloads sealed with this stack's data keys), and vice versa.
    tag = secrets.token_hex(4)
    env = infra.env(
        DSR_REQUESTS_TOPIC=f"dsr.requests.desk-{tag}",
        DSR_DLQ_TOPIC=f"dsr.requests.desk-{tag}.dlq",
        DSR_STATUS_TOPIC=f"dsr.status.desk-{tag}",
        DSR_AUDIT_CHECKPOINT_TOPIC=f"dsr.audit-checkpoints.desk-{tag}",
        DSR_ORCHESTRATOR_TASK_QUEUE=f"dsr-desk-{tag}",
        DSR_CONNECTOR_TASK_QUEUE_PREFIX=f"dsr-desk-{tag}-connector-",
        DSR_RECONCILE_INTERVAL="0",  # the integration stack's worker owns the one schedule
        DSR_DATABASE_URL=f"sqlite+aiosqlite:///{root / 'dsr.db'}",
        DSR_PACKAGE_DIR=str(root / "packages"),
        DSR_INTAKE_DATADIR=str(root / "intake-data"),
        DSR_INTAKE_GROUP=f"dsr-desk-{tag}",
        DSR_CONNECTORS="billing",
        DSR_BILLING_DATABASE_URL=billing_url,
        DSR_SUBJECT_HASH_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        # Signed audit checkpoints, as in production (and the integration stack): without a key
        # `GET /api/audit/verify` refuses to report checkpoints it cannot check (503).
        DSR_AUDIT_SIGNING_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        DSR_API_BIND=f"127.0.0.1:{port}",
        DSR_API_TOKENS=format_api_tokens(configured),
        DSR_CODEC_BIND=f"127.0.0.1:{codec_port}",
        DSR_LOG_FORMAT="json",
    )
    stack = Stack(infra, root, env, None, None, seed)  # type: ignore[arg-type]
    stack.worker = stack.process("worker").start()
    stack.intake = stack.process("intake").start()
    api = stack.process("api").start()
    codec = stack.process("codec-server").start()
    base_url, codec_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{codec_port}"

    def healthy(process: ManagedProcess, url: str) -> bool:
        if not process.alive:
            raise RuntimeError(f"dsr {process.name} exited; see {process.log_path}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(lambda: healthy(api, base_url), 30, "dsr api")
    wait_until(lambda: healthy(codec, codec_url), 30, "dsr codec-server")
    return DeskStack(stack, api, base_url, tokens, codec, codec_url)


def _stop(desk: DeskStack) -> None:
    if desk.codec is not None:
        desk.codec.stop()
    desk.api.stop()
    desk.stack.intake.stop()
    desk.stack.worker.stop()


_shared: DeskStack | None = None
_users = 0


@pytest.fixture(scope="session")
def desk(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeskStack]:
    global _shared, _users
    if _shared is None:
        _shared = _start(infra, tmp_path_factory.mktemp("desk"))
        _shared.known = asyncio.run(seed_known_requests(_shared.stack.env["DSR_DATABASE_URL"]))
    _users += 1
    try:
        yield _shared
    finally:
        _users -= 1
        if _users == 0:
            _stop(_shared)
            _shared = None


# ── a seeded month with known outcomes ─────────────────────────────────────────────────────────
def _local(day: str, clock: str = "10:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=STOCKHOLM).astimezone(UTC)


def _due(received: datetime, months: int = 1) -> tuple[date, datetime]:
    from policy.deadlines import deadline

    return deadline(received, months)


def _summary(
    request_id: str,
    kind: RequestKind,
    channel: Channel,
    status: RequestStatus,
    received: datetime,
    *,
    completed_after_days: float | None = None,
    systems: list[SystemStatus] | None = None,
    **extra: Any,
) -> RequestSummary:
    due_date, due_at = _due(received)
    completed = (
        received + timedelta(days=completed_after_days)
        if completed_after_days is not None
        else None
    )
    values: dict[str, Any] = {
        "request_id": request_id,
        "kind": kind,
        "channel": channel,
        "status": status,
        "received_at": received,
        "due_at": due_at,
        "due_date": due_date,
        "updated_at": completed or received + timedelta(hours=1),
        "completed_at": completed if status is RequestStatus.COMPLETED else None,
        "systems": systems or [SystemStatus(system="billing", outcome=SystemOutcome.DONE)],
    }
    values.update(extra)
    return RequestSummary(**values)


def known_requests() -> list[RequestSummary]:
    """Requests of March 2025 (Stockholm) with outcomes the report tests count by hand, plus two
    just outside the month (one each side of its boundaries, in local time)."""
    bookkeeping = RetainedItem(
        category="invoices",
        count=5,
        reason=RetentionReason.BOOKKEEPING,
        until=date(2032, 12, 31),
        legal_basis="Bokföringslagen 7 kap. 2 §",
    )
    contract = RetainedItem(
        category="domains",
        count=1,
        reason=RetentionReason.CONTRACT,
        until=date(2026, 5, 1),
        legal_basis="avtal",
    )
    backups = RetainedItem(
        category="backups",
        count=2,
        reason=RetentionReason.BACKUP_EXPIRY,
        until=date(2025, 6, 30),
        legal_basis="berättigat intresse",
    )
    a7_received = _local("2025-03-20")
    a7_due_date, a7_due_at = _due(a7_received, 3)
    deny_at = _local("2025-03-12")
    return [
        _summary(
            "seed-a01",
            RequestKind.ACCESS,
            Channel.PORTAL,
            RequestStatus.COMPLETED,
            _local("2025-03-03"),
            completed_after_days=2,
        ),
        _summary(
            "seed-a02",
            RequestKind.ERASURE,
            Channel.EMAIL,
            RequestStatus.COMPLETED,
            _local("2025-03-10"),
            completed_after_days=41,
            systems=[
                SystemStatus(
                    system="billing", outcome=SystemOutcome.RETAINED, retained=[bookkeeping]
                ),
                SystemStatus(
                    system="registrar", outcome=SystemOutcome.DONE, notified=["se-registry"]
                ),
            ],
        ),
        _summary(
            "seed-a03",
            RequestKind.ERASURE,
            Channel.LETTER,
            RequestStatus.COMPLETED,
            _local("2025-03-11"),
            completed_after_days=10,
            systems=[
                SystemStatus(
                    system="registrar",
                    outcome=SystemOutcome.RETAINED,
                    retained=[contract],
                    notified=["se-registry"],
                ),
                SystemStatus(system="hosting", outcome=SystemOutcome.RETAINED, retained=[backups]),
            ],
        ),
        _summary(
            "seed-a04",
            RequestKind.ACCESS,
            Channel.PHONE,
            RequestStatus.DENIED,
            _local("2025-03-12"),
            reason="excessive: a copy was sent in January",
            decisions=[
                DecisionEntry(
                    decision=DecisionKind.DENY,
                    actor="dpo",
                    at=deny_at,
                    reason="excessive: a copy was sent in January",
                    details={"reason_code": "excessive"},
                )
            ],
            updated_at=deny_at + timedelta(hours=2),
        ),
        _summary(
            "seed-a05",
            RequestKind.PORTABILITY,
            Channel.PORTAL,
            RequestStatus.DENIED,
            _local("2025-03-13"),
            reason="insufficient_verification",
            decisions=[
                DecisionEntry(
                    decision=DecisionKind.DENY,
                    actor="workflow",
                    at=_local("2025-03-13", "12:00"),
                    reason="insufficient_verification",
                    details={"reason_code": "insufficient_verification"},
                )
            ],
        ),
        _summary(
            "seed-a06",
            RequestKind.RECTIFICATION,
            Channel.EMAIL,
            RequestStatus.IN_PROGRESS,
            _local("2025-03-14"),
            systems=[SystemStatus(system="billing", outcome=SystemOutcome.FAILED)],
        ),
        _summary(
            "seed-a07",
            RequestKind.RESTRICTION,
            Channel.PORTAL,
            RequestStatus.AWAITING_DECISION,
            a7_received,
            due_at=a7_due_at,
            due_date=a7_due_date,
            extension=Extension(
                months=2,
                reason="complex request across systems",
                extended_at=_local("2025-03-25"),
                original_due_date=_due(a7_received)[0],
                due_date=a7_due_date,
                due_at=a7_due_at,
            ),
        ),
        _summary(
            "seed-a08",
            RequestKind.OBJECTION,
            Channel.PORTAL,
            RequestStatus.COMPLETED,
            _local("2025-03-01", "00:30"),  # 28 February in UTC: still March in Stockholm
            completed_after_days=1,
        ),
        _summary(
            "seed-b01",
            RequestKind.ACCESS,
            Channel.PORTAL,
            RequestStatus.COMPLETED,
            _local("2025-02-27"),
            completed_after_days=1,
        ),
        _summary(
            "seed-b02",
            RequestKind.ERASURE,
            Channel.PORTAL,
            RequestStatus.COMPLETED,
            _local("2025-04-01", "00:30"),  # 31 March in UTC: April in Stockholm
            completed_after_days=1,
        ),
    ]


async def seed_known_requests(database_url: str) -> dict[str, RequestSummary]:
    async with await Store.open(database_url) as store:
        known = known_requests()
        for summary in known:
            await store.upsert_request(summary)
    return {s.request_id: s for s in known}


def wait_for(predicate: Any, timeout: float = 60, what: str = "condition") -> None:
    """Poll `predicate` until truthy (a deadline, never a fixed sleep)."""
    wait_until(predicate, timeout, what)
