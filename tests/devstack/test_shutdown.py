"""Clean shutdown, as a supervisor does it: the real `dsr up` (its own state folder, free ports)
stopped by SIGTERM and killed by SIGKILL leaves no process and no port behind; `dsr worker`
and `dsr intake` alone drain and exit on SIGTERM within their deadline.

Descendants are found by walking /proc (ppid links) once the stack is ready, and identified by
(pid, start time) so a recycled pid is never mistaken for a survivor.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from devstack.localstack import free_port, port_open, wait_until
from devstack.up import LOCAL_PORTS
from tests.conftest import Infra

pytestmark = pytest.mark.integration

READY_TIMEOUT = 180  # two shared cores: a cold start of everything can be slow
# The services' drain deadline inside `dsr up` is DSR_SHUTDOWN_TIMEOUT (+5 s), then the
# sandboxes and infrastructure get 10 s each: the whole stop is bounded well under a minute.
STOP_TIMEOUT = 60

Process = tuple[int, str]  # (pid, start time in clock ticks): survives pid reuse


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def descendants(root: int) -> set[Process]:
    """Every living process below `root` (children, grandchildren, …), from /proc."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat(int(entry))
        if fields is None or fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        starts[int(entry)] = fields[19]
    found: set[Process] = set()
    pending = [root]
    while pending:
        for child in children.get(pending.pop(), []):
            found.add((child, starts[child]))
            pending.append(child)
    return found


def alive(process: Process) -> bool:
    fields = _stat(process[0])
    return fields is not None and fields[0] != "Z" and fields[19] == process[1]


def _wait_for_text(path: Path, text: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    def seen() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode} before {text!r}")
        return path.exists() and text in path.read_text(errors="replace")

    wait_until(seen, timeout, repr(text), interval=0.2)


class RunningStack:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {name: free_port() for name in LOCAL_PORTS}
        self.output = root / "dsr-up.out"
        self.process: subprocess.Popen[bytes] | None = None
        self.tree: set[Process] = set()

    def start(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DSR_UP_PORTS": ",".join(f"{name}={port}" for name, port in self.ports.items()),
            "DSR_SHUTDOWN_TIMEOUT": "15",
        }
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "dsr"),
                    "up",
                    "--state-dir",
                    str(self.root / "state"),
                    "--customers",
                    "50",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.root,
            )
        return self.process

    def wait_ready(self) -> set[Process]:
        """Ready: `dsr up` says so and the worker has registered its queues; then every
        descendant of `dsr up` is recorded."""
        assert self.process is not None
        _wait_for_text(self.output, "dsr local stack is running", READY_TIMEOUT, self.process)
        logs = self.root / "state" / "logs"
        _wait_for_text(logs / "worker.log", "workers started", READY_TIMEOUT, self.process)
        _wait_for_text(logs / "intake.log", "intake starting", READY_TIMEOUT, self.process)
        tree = self.tree = descendants(self.process.pid)
        names = {Path(f"/proc/{pid}/exe").resolve().name for pid, _ in tree}
        assert {"tansu", "temporal"} <= names, names
        assert len(tree) >= 7, "broker, Temporal, three sandboxes, worker, intake"
        return tree

    def assert_nothing_left(self, tree: set[Process]) -> None:
        wait_until(lambda: not any(alive(p) for p in tree), STOP_TIMEOUT, "children gone")
        busy = {name: port for name, port in self.ports.items() if port_open(port)}
        wait_until(
            lambda: not any(port_open(p) for p in self.ports.values()),
            10,
            f"ports free (busy: {busy})",
        )


@pytest.fixture
def running_stack(tmp_path: Path) -> Iterator[RunningStack]:
    stack = RunningStack(tmp_path)
    stack.start()
    try:
        yield stack
    finally:
        # Whatever the test did, leave nothing running for the next one.
        assert stack.process is not None
        if stack.process.poll() is None:
            stack.process.kill()
            stack.process.wait()
        for process in stack.tree:
            if alive(process):
                os.kill(process[0], signal.SIGKILL)


# SIGTERM only: SIGINT and SIGHUP take the same handler (devstack.up.STOP_SIGNALS), and each
# run of the whole stack costs most of a minute of the suite's budget on two shared cores.
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM])
def test_dsr_up_stops_every_child_on_a_stop_signal(
    running_stack: RunningStack, stop_signal: signal.Signals
) -> None:
    tree = running_stack.wait_ready()
    process = running_stack.process
    assert process is not None

    began = time.monotonic()
    process.send_signal(stop_signal)
    assert process.wait(STOP_TIMEOUT) == 0
    running_stack.assert_nothing_left(tree)
    took = time.monotonic() - began
    output = running_stack.output.read_text()
    assert "stopping" in output and "stopped." in output
    print(f"dsr up: {len(tree)} processes stopped by {stop_signal.name} in {took:.1f}s")


def test_dsr_up_killed_takes_its_children_with_it(running_stack: RunningStack) -> None:
    """...and keeps what its broker acknowledged: started again on the same folder, the broker
    still holds every record (the in-memory broker lost those the intake had not read yet)."""
    tree = running_stack.wait_ready()
    process = running_stack.process
    assert process is not None
    bootstrap = f"127.0.0.1:{running_stack.ports['kafka']}"
    sent = [f"record-{i}".encode() for i in range(3)]
    asyncio.run(_produce(bootstrap, SURVIVAL_TOPIC, sent))

    began = time.monotonic()
    process.kill()  # SIGKILL: no handler runs in `dsr up`; the kernel tells the children
    process.wait()
    running_stack.assert_nothing_left(tree)
    print(f"dsr up killed -9: {len(tree)} processes gone in {time.monotonic() - began:.1f}s")

    again = running_stack.start()  # at once: it waits for the dying children's ports
    tree = running_stack.wait_ready()
    assert sorted(asyncio.run(_consume_all(bootstrap, SURVIVAL_TOPIC, len(sent)))) == sent
    again.send_signal(signal.SIGTERM)
    assert again.wait(STOP_TIMEOUT) == 0
    running_stack.assert_nothing_left(tree)


SURVIVAL_TOPIC = "dsr.survival-check"


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()


async def _consume_all(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < count:
                batch = await consumer.getmany(timeout_ms=500)
                got += [r.value for records in batch.values() for r in records if r.value]
    finally:
        await consumer.stop()
    return got


# ── the services alone ─────────────────────────────────────────────────────────────────────
def _service(infra: Infra, root: Path, command: str, **env: str) -> subprocess.Popen[bytes]:
    log = (root / f"{command}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", command],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            **infra.env(
                DSR_DATABASE_URL=f"sqlite+aiosqlite:///{root / 'dsr.db'}",
                DSR_INTAKE_DATADIR=str(root / "intake-data"),
                DSR_INTAKE_GROUP=f"dsr-intake-{secrets.token_hex(4)}",
                DSR_SHUTDOWN_TIMEOUT="15",
                **env,
            ),
        },
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_dsr_worker_drains_and_exits_on_a_stop_signal(
    infra: Infra, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    worker = _service(
        infra,
        tmp_path,
        "worker",
        DSR_CONNECTORS="billing",
        DSR_BILLING_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'billing.db'}",
    )
    try:
        _wait_for_text(tmp_path / "worker.log", "workers started", READY_TIMEOUT, worker)
        began = time.monotonic()
        worker.send_signal(stop_signal)
        assert worker.wait(30) == 0
        print(f"dsr worker stopped by {stop_signal.name} in {time.monotonic() - began:.1f}s")
        output = (tmp_path / "worker.log").read_text()
        assert "workers stopped" in output
        assert '"level": "error"' not in output and "Traceback" not in output, output[-2000:]
    finally:
        if worker.poll() is None:
            worker.kill()


async def _intake_consuming(infra: Infra, key: bytes, timeout: float) -> None:
    """The intake is consuming when a record it must refuse reaches the DLQ (found by its
    source position: an unsigned record's letter keeps no key)."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait("dsr.requests.v1", key=key, value=b"not signed")
    finally:
        await producer.stop()
    where = (str(sent.partition).encode(), str(sent.offset).encode())
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka,
        group_id=None,
        auto_offset_reset="earliest",
        metadata_max_age_ms=500,  # see the DLQ topic soon after the intake declares it
    )
    await consumer.start()
    consumer.subscribe(["dsr.requests.v1.dlq"])
    try:
        async with asyncio.timeout(timeout):
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                for record in (r for records in batch.values() for r in records):
                    got = dict(record.headers)
                    source = (
                        got.get("dsr-dlq-source-partition"),
                        got.get("dsr-dlq-source-offset"),
                    )
                    if source == where:
                        return
    finally:
        await consumer.stop()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_dsr_intake_drains_and_exits_on_a_stop_signal(
    infra: Infra, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    intake = _service(infra, tmp_path, "intake")
    log = tmp_path / "intake.log"
    try:
        key = f"shutdown-{secrets.token_hex(4)}".encode()
        asyncio.run(_intake_consuming(infra, key, READY_TIMEOUT))
        # A request accepted too, so the stop also closes what accepting one opened (the
        # store the duplicate check reads): closed inside the cancelled agent, that logged
        # an error at every clean stop.
        submit = ["submit", "--kind", "access", "--email", "stop.signal@example.se"]
        store = f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}"
        submitted = subprocess.run(
            [sys.executable, "-m", "devstack.cli", *submit],
            env={**os.environ, **infra.env(DSR_DATABASE_URL=store)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert submitted.returncode == 0, submitted.stderr
        _wait_for_text(log, "event accepted", READY_TIMEOUT, intake)
        began = time.monotonic()
        intake.send_signal(stop_signal)
        assert intake.wait(30) == 0
        print(f"dsr intake stopped by {stop_signal.name} in {time.monotonic() - began:.1f}s")
        output = log.read_text()
        assert '"level": "error"' not in output and "Traceback" not in output, output[-2000:]
    finally:
        if intake.poll() is None:
            intake.kill()
