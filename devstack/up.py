"""`dsr up`: the whole local stack in the foreground — broker, Temporal (with UI), sandbox
systems, store, workers, intake agent — until Ctrl-C, which stops every child cleanly.

First start writes `.state/local.env` (fresh signing and payload keys, local addresses); every
`dsr` command run from the same folder reads it, so `dsr submit` in another shell just works.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console

from devstack.estate import HTTP_SYSTEMS, Estate
from devstack.localstack import (
    ManagedProcess,
    StartupFailed,
    kafka_broker,
    port_open,
    temporal_dev_server,
    wait_until,
)
from orchestrator.store import Store
from sandbox.billing.seed import SeedSummary

__all__ = ["LOCAL_PORTS", "local_env", "run_local_stack", "seed_sandbox"]

LOCAL_PORTS = {
    "kafka": 9092,
    "temporal": 7233,
    "temporal-ui": 8233,
    "registrar": 8301,
    "newsletter": 8302,
    "support": 8303,
}
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


def local_estate(state_dir: Path) -> Estate:
    """The five sandbox systems of the local stack, on fixed ports, with their kept secrets."""
    env_file = state_dir / "local.env"
    existing = _read_env_file(env_file) if env_file.exists() else {}
    kept = {name: existing[var] for name, var in _SECRET_SETTINGS.items() if var in existing}
    return Estate(
        state_dir / "sandbox",
        ports={system: LOCAL_PORTS[system] for system in HTTP_SYSTEMS},
        secrets=kept,
    )


def local_env(state_dir: Path, estate: Estate) -> dict[str, str]:
    """The local settings; keys are generated once and kept (old histories stay decryptable)."""
    env_file = state_dir / "local.env"
    existing = _read_env_file(env_file) if env_file.exists() else {}
    values = {
        "DSR_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{LOCAL_PORTS['kafka']}",
        "DSR_TEMPORAL_ADDRESS": f"127.0.0.1:{LOCAL_PORTS['temporal']}",
        "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{state_dir / 'dsr.db'}",
        "DSR_EXPORT_DIR": str(state_dir / "exports"),
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
    values |= estate.connector_env()
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# Written by `dsr up`: local addresses and keys. Not for production.\n")
        handle.writelines(f"{k}={v}\n" for k, v in values.items())
    return values


async def seed_sandbox(estate: Estate, customers: int, seed: int) -> dict[str, BaseModel]:
    """(Re)seed all five sandbox systems of the local stack."""
    return await estate.seed(customers, seed)


async def _migrate(database_url: str) -> None:
    store = await Store.open(database_url)
    await store.close()


def run_local_stack(state_dir: Path, customers: int) -> int:
    state_dir = state_dir.resolve()
    logs = state_dir / "logs"
    busy = [f"{name} ({port})" for name, port in LOCAL_PORTS.items() if port_open(port)]
    if busy:
        console.print(f"[red]ports in use:[/red] {', '.join(busy)} — is another `dsr up` running?")
        return 1
    estate = local_estate(state_dir)
    env = local_env(state_dir, estate)
    os.environ.update(env)
    child_env = {**env, "DSR_ENV_FILE": str(state_dir / "local.env")}
    started: list[ManagedProcess] = []
    try:
        console.print("starting Kafka-protocol broker …")
        started.append(kafka_broker(LOCAL_PORTS["kafka"], logs))
        console.print("starting Temporal dev server …")
        started.append(
            temporal_dev_server(
                LOCAL_PORTS["temporal"],
                state_dir / "temporal.db",
                logs,
                ui_port=LOCAL_PORTS["temporal-ui"],
            )
        )
        summary: SeedSummary | None = None
        if not (estate.root / "billing.db").exists():
            console.print(f"seeding the five sandbox systems with {customers} customers …")
            summary = asyncio.run(estate.seed(customers, 1))["billing"]  # type: ignore[assignment]
        console.print("starting sandbox systems (registrar, newsletter, support) …")
        started.extend(estate.start_servers(logs))
        asyncio.run(_migrate(env["DSR_DATABASE_URL"]))
        for name, command in (("worker", "worker"), ("intake", "intake")):
            started.append(
                ManagedProcess(
                    name,
                    [sys.executable, "-m", "orchestrator.cli", command],
                    logs / f"{name}.log",
                    env=child_env,
                ).start()
            )
        wait_until(lambda: all(p.alive for p in started), 3, "workers")
        _print_ready(state_dir, summary)
        while all(p.alive for p in started):
            time.sleep(0.5)
        dead = [p for p in started if not p.alive]
        console.print(f"[red]{', '.join(p.name for p in dead)} stopped; see {logs}[/red]")
        return 1
    except KeyboardInterrupt:
        console.print("\nstopping …")
        return 0
    except StartupFailed as failure:
        console.print(f"[red]{failure}[/red]")
        return 1
    finally:
        # A second Ctrl-C must not abandon the children half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for process in reversed(started):
            process.stop()
        console.print("stopped.")


def _example_email(summary: SeedSummary | None, state_dir: Path) -> str:
    """A seeded private person's e-mail for the example command (kept across restarts)."""
    remembered = state_dir / "example-email"
    if summary is not None and summary.examples.plain_person is not None:
        remembered.write_text(summary.examples.plain_person.emails[0])
    return remembered.read_text().strip() if remembered.exists() else "<a customer's e-mail>"


def _print_ready(state_dir: Path, summary: SeedSummary | None) -> None:
    email = _example_email(summary, state_dir)
    console.print(
        f"""
[bold green]dsr local stack is running[/bold green]  (Ctrl-C stops everything)
  Kafka-protocol broker  127.0.0.1:{LOCAL_PORTS["kafka"]}
                         topics dsr.requests.v1, dsr.requests.v1.dlq, dsr.status.v1
  Temporal               127.0.0.1:{LOCAL_PORTS["temporal"]}   UI http://127.0.0.1:{LOCAL_PORTS["temporal-ui"]}
  store (SQLite)         {state_dir / "dsr.db"}
  sandbox systems        billing, hosting (SQLite; hosting home directories on disk)
                         registrar http://127.0.0.1:{LOCAL_PORTS["registrar"]} (RDAP under /rdap)
                         newsletter http://127.0.0.1:{LOCAL_PORTS["newsletter"]}
                         support http://127.0.0.1:{LOCAL_PORTS["support"]}
                         data in {state_dir / "sandbox"}
  exports                {state_dir / "exports"}
  logs                   {state_dir / "logs"}
  settings for `dsr`     {state_dir / "local.env"}

Try, in another shell:
  .venv/bin/dsr submit --kind access --email {email}
  .venv/bin/dsr status <request id printed above>
"""
    )
