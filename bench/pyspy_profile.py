"""Where a process's CPU goes: py-spy samples while a benchmark runs, summarised by library and
by the project code that called it, plus CPU per OS thread (the Temporal SDK's Rust core runs
on threads py-spy cannot see into, so the thread table says how much of the CPU is outside
Python at all).

Used by `bench/e2e.py --profile DIR` (and `bench/scaling.py`); also on its own, for a raw file
written by `py-spy record -f raw --full-filenames`:

    .venv/bin/python bench/pyspy_profile.py FILE.raw
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

__all__ = ["PySpy", "summarise", "thread_cpu"]

PY_SPY = Path(sys.executable).with_name("py-spy")

# Leaf-first: a sample belongs to the first library found walking from the running frame out.
LIBRARIES = (
    ("cryptography", "encryption (cryptography)"),
    ("pydantic_core", "pydantic"),
    ("pydantic", "pydantic"),
    ("google/protobuf", "protobuf"),
    ("temporalio", "Temporal SDK (Python)"),
    ("aiokafka", "Kafka client"),
    ("kafka/", "Kafka client"),
    ("sqlalchemy", "SQL (sqlalchemy/driver)"),
    ("aiosqlite", "SQL (sqlalchemy/driver)"),
    ("sqlite3", "SQL (sqlalchemy/driver)"),
    ("asyncpg", "SQL (sqlalchemy/driver)"),
    ("httpx", "HTTP client"),
    ("httpcore", "HTTP client"),
    ("h11", "HTTP client"),
    ("anyio", "HTTP client"),
    ("opentelemetry", "telemetry"),
    ("prometheus_client", "telemetry"),
    ("structlog", "logging"),
    ("/logging/", "logging"),
    ("/json/", "json"),
    ("orjson", "json"),
    ("asyncio", "asyncio event loop"),
    ("selectors", "asyncio event loop"),
    ("threading", "threads"),
    ("concurrent/futures", "threads"),
)
# Deepest project frame of a sample (the shared connector kit counts for the connector that
# called it): which of our modules the CPU was spent for.
ROOT = str(Path(__file__).resolve().parent.parent)
PROJECT = re.compile(
    re.escape(ROOT)
    + r"/(?P<mod>(?:connectors/[a-z_]+|orchestrator/[a-z_]+|workflows/[a-z_]+|policy|schemas))"
    + r"(?:/|\.py)"
)
FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")
# Leaf frames of a thread waiting (py-spy --nonblocking cannot always tell): the event loop in
# epoll, aiosqlite's connection thread and the default executor's threads in queue.get().
IDLE_LEAVES = (
    ("selectors.py", "EpollSelector.select", "468"),
    ("aiosqlite/core.py", "_connection_worker_thread", "59"),
    ("concurrent/futures/thread.py", "_worker", "81"),
)


class PySpy:
    """`py-spy record` against a running PID until stopped (SIGINT makes it write the file)."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PySpy:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "--pid",
                str(self.pid),
                "--nonblocking",
                "--gil",  # samples of the thread holding the GIL: where Python's CPU goes
                "--full-filenames",
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--output",
                str(self.out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _files(stack: str) -> list[str] | None:
    """The files of a sample's frames, root first; None for a thread idling in a queue."""
    files = []
    match = None
    for frame in stack.split(";"):
        match = FRAME.match(frame)
        if match:
            files.append(match["file"])
    if match is not None and any(
        match["file"].endswith(f) and match["func"] == fn and match["line"] == ln
        for f, fn, ln in IDLE_LEAVES
    ):
        return None
    return files


def _project(file: str) -> str | None:
    match = PROJECT.match(file)
    return match["mod"] if match and "/.venv/" not in file else None


def _library(files: list[str]) -> str:
    """Leaf first: the library running, or the project module that called into the stdlib."""
    for file in reversed(files):
        module = _project(file)
        if module is not None:
            return f"project: {module}"
        for key, name in LIBRARIES:
            if key in file:
                return name
    return "other"


def summarise(raw: Path, top: int = 12) -> str:
    """Samples by library (leaf-first) and by project module (deepest frame), in %."""
    libraries: Counter[str] = Counter()
    owners: Counter[str] = Counter()
    total = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        files = _files(stack)
        if files is None:
            idle += n
            continue
        total += n
        if not files:  # a thread with no Python frame (py-spy saw only native code)
            libraries["(no Python frame)"] += n
            owners["(no Python frame)"] += n
            continue
        library = _library(files)
        libraries[library] += n
        mods = [m for f in reversed(files) if (m := _project(f))]
        owner = next((m for m in mods if m != "connectors/base"), mods[0] if mods else None)
        if owner in (None, "orchestrator/cli"):  # only the process's entry point
            owner = "(no project frame: SDK, loop, threads)"
        owners[owner] += n
    if not total:
        return f"{raw}: no samples"
    lines = [f"{raw.name}: {total} samples ({idle} more were threads idling in a queue)"]
    for title, counter in (("by library", libraries), ("by project module", owners)):
        lines.append(f"  {title}:")
        lines += [f"    {n / total:6.1%}  {name}" for name, n in counter.most_common(top)]
    return "\n".join(lines)


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of a live process (from /proc/PID/task/*/stat)."""
    tick = os.sysconf("SC_CLK_TCK")
    per: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        if task.name == str(pid):
            name = "main thread"
        elif name == "python":
            name = "other Python threads"
        fields = stat.rsplit(")", 1)[1].split()
        per[re.sub(r"[-_ ]?\d+$", "", name) or name] += (int(fields[11]) + int(fields[12])) / tick
    return dict(per)


def thread_cpu_delta(before: dict[str, float], after: dict[str, float], n: int) -> str:
    """Per-thread CPU in ms per request between two `thread_cpu` snapshots."""
    rows = sorted(((after[k] - before.get(k, 0.0)) * 1000 / n, k) for k in after)
    return ", ".join(f"{name} {ms:.0f}" for ms, name in reversed(rows) if ms >= 1)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(summarise(Path(arg)))
