"""CPU seconds and peak PSS of named groups of processes, sampled with psutil.

Used by `bench/peer_fides.py` for both systems with the same rules, so the comparison is fair:

- a group is a set of root pids and all their descendants (a celery worker's prefork children,
  Temporal's subprocesses), or the PostgreSQL server seen from one workload;
- CPU is user + system time (plus that of reaped children) summed over every process seen in
  the group while sampling, as its last sampled value minus its value at `start()` (zero for a
  process born after it). A process that exits between two samples loses at most one interval;
- PSS (`memory_full_info().pss`, shared pages divided among the processes sharing them) is
  summed per group at each sample; the peak per group and the peak of the sum are kept.

The machine's PostgreSQL cluster is shared with other engineers' tests, so a postgres group
counts the postmaster and its background processes for memory (they are the server every
workload needs) but only the backends connected to the workload's own databases, for both CPU
and memory: other people's queries are not ours, nor Fides'.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = ["GroupFigures", "Sampler", "postgres_group", "tree_group"]

# A selector lists the group's processes now, each with whether its CPU counts.
Selector = Callable[[], list[tuple[psutil.Process, bool]]]
_Key = tuple[int, float]  # pid and create time: a reused pid is another process


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def tree_group(*pids: int) -> Selector:
    """The processes `pids` and all their descendants (those still alive)."""

    def select() -> list[tuple[psutil.Process, bool]]:
        found: list[tuple[psutil.Process, bool]] = []
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                found.append((root, True))
                found.extend((child, True) for child in root.children(recursive=True))
        return found

    return select


def postmaster_pid(data_dir: Path) -> int:
    """The first line of postmaster.pid in the cluster's data directory."""
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def postgres_group(postmaster: int, databases: Iterable[str]) -> Selector:
    """The postmaster, its background processes, and the backends connected to `databases`.

    A backend's title is `postgres: 15/main: USER DATABASE HOST(PORT) STATE`; background
    processes (checkpointer, walwriter, autovacuum launcher, ...) have no client address: their
    PSS counts, their CPU does not (on a shared cluster it is mostly other users' writes)."""
    wanted = set(databases)

    def select() -> list[tuple[psutil.Process, bool]]:
        found: list[tuple[psutil.Process, bool]] = []
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(postmaster)
            found.append((root, False))
            for child in root.children():
                with contextlib.suppress(psutil.Error):
                    words = " ".join(child.cmdline()).split(": ", 2)[-1].split()
                    if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
                        if words[1] in wanted:
                            found.append((child, True))
                    else:
                        found.append((child, False))
        return found

    return select


def _key(proc: psutil.Process) -> _Key:
    return (proc.pid, proc.create_time())


@dataclass
class GroupFigures:
    cpu_s: float
    peak_pss_mib: float
    processes_seen: int  # processes whose CPU counted (all samples)
    peak_processes: int  # most processes in one sample (PSS)


@dataclass
class _Group:
    select: Selector
    baseline: dict[_Key, float] = field(default_factory=dict)
    last: dict[_Key, float] = field(default_factory=dict)
    peak_pss: int = 0
    peak_processes: int = 0


class Sampler:
    """Samples groups every `interval` seconds in a thread between `start()` and `stop()`."""

    def __init__(self, groups: dict[str, Selector], interval: float = 0.5) -> None:
        self._groups = {name: _Group(select) for name, select in groups.items()}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak_total_pss = 0
        self.samples = 0

    def start(self) -> Sampler:
        for group in self._groups.values():
            for proc, counts_cpu in group.select():
                if counts_cpu:
                    with contextlib.suppress(psutil.Error):
                        group.baseline[_key(proc)] = _cpu(proc)
        self._sample()
        self._thread.start()
        return self

    def _sample(self) -> None:
        total = 0
        for group in self._groups.values():
            pss = 0
            members = group.select()
            group.peak_processes = max(group.peak_processes, len(members))
            for proc, counts_cpu in members:
                with contextlib.suppress(psutil.Error):
                    if counts_cpu:
                        group.last[_key(proc)] = _cpu(proc)
                    pss += proc.memory_full_info().pss
            group.peak_pss = max(group.peak_pss, pss)
            total += pss
        self.peak_total_pss = max(self.peak_total_pss, total)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self._sample()
            # a slow sample (many processes, a loaded box) must not pile up behind itself
            self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))

    def stop(self) -> dict[str, GroupFigures]:
        self._stop.set()
        self._thread.join()
        self._sample()
        return {
            name: GroupFigures(
                cpu_s=sum(v - g.baseline.get(k, 0.0) for k, v in g.last.items()),
                peak_pss_mib=g.peak_pss / 2**20,
                processes_seen=len(g.last),
                peak_processes=g.peak_processes,
            )
            for name, g in self._groups.items()
        }

    @property
    def peak_total_pss_mib(self) -> float:
        return self.peak_total_pss / 2**20
