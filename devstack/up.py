"""`dsr up`: the whole local stack in the foreground — broker, Temporal (with UI), sandbox
systems, store, workers, intake agent — until Ctrl-C, which stops every child cleanly.

First start writes `.state/local.env` (fresh signing and payload keys, local addresses); every
`dsr` command run from the same folder reads it, so `dsr submit` in another shell just works.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from pydantic import BaseModel
from rich.console import Console

from devstack.estate import HTTP_SYSTEMS, Estate
from devstack.localstack import (
    ManagedProcess,
    StartupFailed,
    free_port,
    kafka_broker,
    port_open,
    s3_server,
    stop_all,
    temporal_dev_server,
    wait_until,
)
from orchestrator.audit import generate_signing_key
from orchestrator.settings import InvalidSettings, get_settings
from orchestrator.store import Store
from sandbox.billing.seed import SeedSummary

__all__ = [
    "LOCAL_PORTS",
    "SERVICES",
    "local_env",
    "local_ports",
    "parse_port_overrides",
    "run_local_stack",
    "seed_sandbox",
]

# The documented local addresses. Tests (and a second stack beside a running one) override
# them: `dsr up --port kafka=19092 …` or DSR_UP_PORTS="kafka=19092,temporal=17233,…".
LOCAL_PORTS = {
    "kafka": 9092,
    "broker-storage": 9093,  # s3rver: where the broker keeps its records (.state/broker)
    "temporal": 7233,
    "temporal-ui": 8233,
    "registrar": 8301,
    "newsletter": 8302,
    "support": 8303,
    "api": 8400,  # the DPO's HTTP API and dashboard (`dsr api`)
    "codec": 8401,  # the Temporal Web UI's codec server (`dsr codec-server`)
}
PORTS_ENV = "DSR_UP_PORTS"
BROKER_BUCKET = "tansu"
PORTS_RELEASE_WAIT = 10.0  # seconds
# Written into the sandbox folder as seeding starts / once all five systems are (`_seeded`).
SEEDING_MARKER = "seeding"
SEEDED_MARKER = "seeded"
SANDBOX_SYSTEMS = ("billing", "registrar", "hosting", "newsletter", "support")

# The orchestrator's own processes, each a `dsr` sub-command run with the local settings, in
# start order (stopped together, before the systems and infrastructure they depend on).
# Adding a process is one line here (plus its port in LOCAL_PORTS if it listens).
SERVICES: dict[str, list[str]] = {
    "worker": ["worker"],
    "intake": ["intake"],
    "api": ["api"],
    "codec-server": ["codec-server"],
}
# The services that serve Prometheus metrics and health probes (orchestrator.telemetry).
METERED = frozenset({"worker", "intake", "api", "codec-server"})
_SECRET_SETTINGS = {
    "registrar_token": "DSR_REGISTRAR_API_TOKEN",
    "newsletter_token": "DSR_NEWSLETTER_API_TOKEN",
    "newsletter_salt": "DSR_NEWSLETTER_BLOCKLIST_SALT",
    "support_token": "DSR_SUPPORT_API_TOKEN",
}
console = Console()


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def parse_port_overrides(items: list[str] | str) -> dict[str, int]:
    """`name=port` items (a list, or one comma-separated string) → {name: port}."""
    if isinstance(items, str):
        items = [i for i in items.split(",") if i.strip()]
    ports: dict[str, int] = {}
    for item in items:
        name, sep, value = item.strip().partition("=")
        if not sep or name not in LOCAL_PORTS or not value.isdigit():
            known = ", ".join(LOCAL_PORTS)
            raise ValueError(
                f"port override {item.strip()!r}: expected NAME=PORT, NAME one of {known}"
            )
        ports[name] = int(value)
    return ports


def local_ports(overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """The documented ports, then DSR_UP_PORTS, then explicit overrides (the `--port` option)."""
    return {
        **LOCAL_PORTS,
        **parse_port_overrides(os.environ.get(PORTS_ENV, "")),
        **(overrides or {}),
    }


def local_estate(state_dir: Path, ports: Mapping[str, int] | None = None) -> Estate:
    """The five sandbox systems of the local stack, on fixed ports, with their kept secrets."""
    ports = local_ports(ports)
    env_file = state_dir / "local.env"
    existing = _read_env_file(env_file) if env_file.exists() else {}
    kept = {name: existing[var] for name, var in _SECRET_SETTINGS.items() if var in existing}
    return Estate(
        state_dir / "sandbox",
        ports={system: ports[system] for system in HTTP_SYSTEMS},
        secrets=kept,
    )


def _subject_hash_key(existing: Mapping[str, str]) -> str:
    """DSR_SUBJECT_HASH_KEY (keyed hash of subject identifiers, repeated-request detection):
    generated on first start and kept, so the worker does not derive one with a warning. A
    stack first started before this was written keeps the key its worker derived from the
    payload keys (`orchestrator.worker.subject_hash_key`), so earlier fingerprints still match."""
    if existing.get("DSR_SUBJECT_HASH_KEY"):
        return existing["DSR_SUBJECT_HASH_KEY"]
    payload_keys = dict(
        item.split(":", 1)
        for item in existing.get("DSR_PAYLOAD_KEYS", "").split(",")
        if ":" in item
    )
    if payload_keys:
        first = base64.b64decode(payload_keys[sorted(payload_keys)[0]])
        derived = hashlib.sha256(b"dsr-subject-hash-key/v1\x00" + first).digest()
        return base64.b64encode(derived).decode()
    return base64.b64encode(secrets.token_bytes(32)).decode()


def local_env(
    state_dir: Path, estate: Estate, ports: Mapping[str, int] | None = None
) -> dict[str, str]:
    """The local settings; keys are generated once and kept (old histories stay decryptable)."""
    ports = local_ports(ports)
    env_file = state_dir / "local.env"
    existing = _read_env_file(env_file) if env_file.exists() else {}
    values = {
        "DSR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{ports['kafka']}",
        "DSR_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{state_dir / 'dsr.db'}",
        "DSR_PACKAGE_DIR": str(state_dir / "packages"),
        "DSR_INTAKE_DATADIR": str(state_dir / "intake-data"),
        "DSR_REQUESTS_PARTITIONS": "4",
        # The local broker joins groups slowly with production timeouts (LOCAL-INFRA.md).
        "DSR_KAFKA_SESSION_TIMEOUT": "2.0",
        "DSR_KAFKA_HEARTBEAT_INTERVAL": "0.5",
        "DSR_KAFKA_REBALANCE_TIMEOUT": "2.0",
        "DSR_LOG_FORMAT": "json",
        "DSR_SIGNING_KEYS": f"local:{secrets.token_hex(32)}",
        "DSR_PAYLOAD_KEYS": f"local:{base64.b64encode(secrets.token_bytes(32)).decode()}",
    }
    values |= {k: v for k, v in existing.items() if k in ("DSR_SIGNING_KEYS", "DSR_PAYLOAD_KEYS")}
    values["DSR_API_BIND"] = f"127.0.0.1:{ports['api']}"
    # The codec server for the Temporal Web UI, and the key signing audit checkpoints (kept).
    values["DSR_CODEC_BIND"] = f"127.0.0.1:{ports['codec']}"
    values["DSR_CODEC_CORS_ORIGINS"] = (
        f"http://127.0.0.1:{ports['temporal-ui']},http://localhost:{ports['temporal-ui']}"
    )
    values["DSR_AUDIT_SIGNING_KEY"] = (
        existing.get("DSR_AUDIT_SIGNING_KEY") or generate_signing_key()
    )
    values["DSR_SUBJECT_HASH_KEY"] = _subject_hash_key(existing)
    values["DSR_API_TOKENS"] = local_api_tokens(state_dir)
    values |= estate.connector_env()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Written by `dsr up`: local addresses and keys. Not for production.\n")
        handle.writelines(f"{k}={v}\n" for k, v in values.items())
    return values


API_TOKENS_FILE = "api-tokens"
_API_ROLES = ("dpo", "operator", "auditor")


def _read_api_tokens(path: Path) -> dict[str, tuple[str, str]]:
    """`.state/api-tokens` lines `name role token` → {role: (name, token)}."""
    tokens: dict[str, tuple[str, str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in _API_ROLES:
                tokens[parts[1]] = (parts[0], parts[2])
    return tokens


def local_api_tokens(state_dir: Path) -> str:
    """One desk token per role, generated on first start and kept in `.state/api-tokens`
    (0600, `name role token` per line); returns `DSR_API_TOKENS` (hashes only)."""
    from orchestrator.auth import ApiToken, Role, format_api_tokens, generate_token, hash_token

    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state_dir / API_TOKENS_FILE
    tokens = _read_api_tokens(path)
    if set(tokens) != set(_API_ROLES):
        tokens = {role: (f"local-{role}", generate_token()) for role in _API_ROLES}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.writelines(f"{name} {role} {token}\n" for role, (name, token) in tokens.items())
    return format_api_tokens(
        ApiToken(name=name, role=Role(role), sha256=hash_token(token))
        for role, (name, token) in tokens.items()
    )


async def seed_sandbox(estate: Estate, customers: int, seed: int) -> dict[str, BaseModel]:
    """(Re)seed all five sandbox systems of the local stack."""
    return await estate.seed(customers, seed)


async def _migrate(database_url: str) -> None:
    store = await Store.open(database_url)
    await store.close()


class StopRequested(KeyboardInterrupt):
    """SIGTERM, SIGINT or SIGHUP reached `dsr up`. A KeyboardInterrupt, so that asyncio code
    running at that moment (seeding, migrating) unwinds the way it does for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise StopRequested(signum)


@dataclass
class _Children:
    """Everything `dsr up` started, by tier: stopped services first (they drain against the
    systems and infrastructure), then the sandbox systems, then Temporal and the broker."""

    infrastructure: list[ManagedProcess] = field(default_factory=list)
    systems: list[ManagedProcess] = field(default_factory=list)
    services: list[ManagedProcess] = field(default_factory=list)

    def all(self) -> list[ManagedProcess]:
        return [*self.infrastructure, *self.systems, *self.services]

    def stop(self, drain_timeout: float) -> None:
        stop_all(self.services, drain_timeout)
        stop_all(self.systems, 10)
        stop_all(list(reversed(self.infrastructure)), 10)


def run_local_stack(state_dir: Path, customers: int, ports: Mapping[str, int] | None = None) -> int:
    """Run until SIGTERM/SIGINT/SIGHUP (or a child dies); every child is stopped on the way
    out, and dies with us even if we are killed -9 (see ManagedProcess)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _raise_stop)
    children = _Children()
    try:
        return _run(state_dir.resolve(), customers, local_ports(ports), children)
    except StopRequested:
        console.print("\nstopping …")
        return 0
    except StartupFailed as failure:
        console.print(f"[red]{failure}[/red]")
        return 1
    finally:
        # A second signal must not abandon the children half-stopped.
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        children.stop(drain_timeout=_shutdown_timeout() + 5)
        console.print("stopped.")


def _shutdown_timeout() -> float:
    """The services' drain deadline (DSR_SHUTDOWN_TIMEOUT), read without validating every
    setting: stopping must work even when a setting is wrong."""
    from orchestrator.settings import Settings

    default = float(Settings.model_fields["shutdown_timeout"].default)
    try:
        return float(os.environ.get("DSR_SHUTDOWN_TIMEOUT", default))
    except ValueError:
        return default


def _run(state_dir: Path, customers: int, ports: dict[str, int], children: _Children) -> int:
    logs = state_dir / "logs"
    # The children of a stack killed a moment ago die with it (PR_SET_PDEATHSIG) but take a
    # few seconds to let go of their ports: wait for them before calling the ports taken.
    deadline = time.monotonic() + PORTS_RELEASE_WAIT
    while (busy := [f"{n} ({p})" for n, p in ports.items() if port_open(p)]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.25)
    if busy:
        console.print(f"[red]ports in use:[/red] {', '.join(busy)} — is another `dsr up` running?")
        return 1
    estate = local_estate(state_dir, ports)
    env = local_env(state_dir, estate, ports)
    os.environ.update(env)
    child_env = {**env, "DSR_ENV_FILE": str(state_dir / "local.env")}
    # The services read the same settings (this environment and local.env): a bad one, set by
    # the user, is named here in one line before anything starts, not after the banner.
    try:
        get_settings.cache_clear()
        get_settings()
    except InvalidSettings as error:
        raise StartupFailed(str(error)) from None

    console.print("starting Kafka-protocol broker …")
    # Persistent: a record the broker acknowledged (`dsr submit` printed its id) survives a
    # restart of the stack, also one the intake had not read yet when it stopped or was killed.
    # tansu's s3 engine on s3rver, a folder under .state (the in-memory engine kept nothing).
    storage, storage_env = s3_server(
        ports["broker-storage"], state_dir / "broker", logs, BROKER_BUCKET
    )
    children.infrastructure.append(storage)
    children.infrastructure.append(
        kafka_broker(ports["kafka"], logs, storage_engine=f"s3://{BROKER_BUCKET}/", env=storage_env)
    )
    console.print("starting Temporal dev server …")
    children.infrastructure.append(
        temporal_dev_server(
            ports["temporal"],
            state_dir / "temporal.db",
            logs,
            ui_port=ports["temporal-ui"],
            ui_codec_endpoint=f"http://127.0.0.1:{ports['codec']}",
        )
    )
    summary = seed_once(estate, customers)
    console.print("starting sandbox systems (registrar, newsletter, support) …")
    children.systems.extend(estate.start_servers(logs))
    asyncio.run(_migrate(env["DSR_DATABASE_URL"]))
    # Each service with a telemetry endpoint (metrics, /healthz, /readyz) gets a free port.
    metrics = {name: f"127.0.0.1:{free_port()}" for name in SERVICES if name in METERED}
    for name, command in SERVICES.items():
        children.services.append(
            ManagedProcess(
                name,
                [sys.executable, "-m", "orchestrator.cli", *command],
                logs / f"{name}.log",
                env={**child_env, "DSR_METRICS_BIND": metrics.get(name, "")},
            ).start()
        )
    started = children.all()
    wait_until(lambda: all(p.alive for p in started), 3, "workers")
    _print_ready(state_dir, summary, ports)
    _print_metrics(metrics)
    while all(p.alive for p in started):
        time.sleep(0.5)
    dead = [p for p in started if not p.alive]
    console.print(f"[red]{', '.join(p.name for p in dead)} stopped; see {logs}[/red]")
    return 1


def seed_once(estate: Estate, customers: int) -> SeedSummary | None:
    """Seed the five sandbox systems unless they were seeded to the end (`_seeded`); billing's
    summary when it seeded (the example customer), else None."""
    if _seeded(estate):
        return None
    console.print(f"seeding the five sandbox systems with {customers} customers …")
    estate.root.mkdir(parents=True, exist_ok=True)
    (estate.root / SEEDING_MARKER).write_text(f"{customers} customers\n")
    summaries = asyncio.run(estate.seed(customers, 1))
    (estate.root / SEEDING_MARKER).rename(estate.root / SEEDED_MARKER)
    summary = summaries["billing"]
    assert isinstance(summary, SeedSummary)
    return summary


def _seeded(estate: Estate) -> bool:
    """Whether every sandbox system was seeded to the end: a stop during the first start's
    seeding left some systems without data, and the next start took billing's file for all
    five. Seeding writes SEEDING_MARKER first and SEEDED_MARKER once all five are done; a
    folder with neither was seeded before the markers existed, and counts as seeded when all
    five files are there."""
    if (estate.root / SEEDED_MARKER).exists():
        return True
    if (estate.root / SEEDING_MARKER).exists():
        return False  # a seeding that never finished
    complete = all((estate.root / f"{system}.db").exists() for system in SANDBOX_SYSTEMS)
    if complete:
        (estate.root / SEEDED_MARKER).write_text("seeded before the marker existed\n")
    return complete


def _print_metrics(metrics: Mapping[str, str]) -> None:
    for name, bind in metrics.items():
        console.print(
            f"metrics    {name:<13}http://{bind}/metrics  (probes: /healthz, /readyz)",
            highlight=False,
            soft_wrap=True,
        )


def _example_email(summary: SeedSummary | None, state_dir: Path) -> str:
    """A seeded private person's e-mail for the example command (kept across restarts)."""
    remembered = state_dir / "example-email"
    if summary is not None and summary.examples.plain_person is not None:
        remembered.write_text(summary.examples.plain_person.emails[0])
    return remembered.read_text().strip() if remembered.exists() else "<a customer's e-mail>"


def _print_ready(state_dir: Path, summary: SeedSummary | None, ports: Mapping[str, int]) -> None:
    email = _example_email(summary, state_dir)
    console.print(
        f"""
[bold green]dsr local stack is running[/bold green]  (Ctrl-C stops everything)
  Kafka-protocol broker  127.0.0.1:{ports["kafka"]}   records kept in {state_dir / "broker"}
                         topics dsr.requests.v1, dsr.requests.v1.dlq, dsr.status.v1,
                         dsr.audit-checkpoints.v1 (`dsr audit verify` checks the store against it)
  Temporal               127.0.0.1:{ports["temporal"]}   UI http://127.0.0.1:{ports["temporal-ui"]}
  store (SQLite)         {state_dir / "dsr.db"}
  sandbox systems        billing, hosting (SQLite; hosting home directories on disk)
                         registrar http://127.0.0.1:{ports["registrar"]} (RDAP under /rdap)
                         newsletter http://127.0.0.1:{ports["newsletter"]}
                         support http://127.0.0.1:{ports["support"]}
                         data in {state_dir / "sandbox"}
  access packages        {state_dir / "packages"} (encrypted; `dsr package show|extract ID`)
  logs                   {state_dir / "logs"}
  settings for `dsr`     {state_dir / "local.env"}
  desk tokens (per role) {state_dir / API_TOKENS_FILE}

Try, in another shell:
  .venv/bin/dsr submit --kind access --email {email}
  .venv/bin/dsr status <request id printed above>
"""
    )
    dpo = _read_api_tokens(state_dir / API_TOKENS_FILE).get("dpo")
    console.print(f"dashboard  http://127.0.0.1:{ports['api']}/", highlight=False, soft_wrap=True)
    console.print(
        f"codec      http://127.0.0.1:{ports['codec']}/login  (sign in with the DPO token; in the "
        "Temporal UI's Codec Server settings tick 'Include cross-origin credentials')",
        highlight=False,
        soft_wrap=True,
    )
    if dpo is not None:
        console.print(f"DPO token  {dpo[1]}", highlight=False, soft_wrap=True)
