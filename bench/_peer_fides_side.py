"""Fides' half of `bench/peer_fides.py`: its own harness (`../shared/peers/fides/`), called,
never copied. `run_fides_bench.sh` installs, seeds, starts, configures and stops Fides;
`fides_bench.py run` submits one batch and prints a JSON summary (its requests/min: completed
requests over first POST → last `finished_processing_at`). Around each batch our `Sampler`
measures CPU and PSS with the same rules as for our stack.

Nothing here stops the machine's PostgreSQL or Redis: they were running before, other people's
tests use them, and `STOP_DATA=1` is never passed.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench._peer_procs import GroupFigures, Sampler, postgres_group, postmaster_pid, tree_group

__all__ = ["FidesBatch", "FidesHarness"]

PEER_DIR = Path(__file__).resolve().parents[2] / "shared" / "peers" / "fides"
PG_DATA_DIR = Path("/var/lib/postgresql/15/main")
FIDES_DATABASES = ("fides", "customers")


@dataclass
class FidesBatch:
    kind: str
    n: int
    completed: int
    requests_per_min: float | None
    wall_s: float | None
    p50_latency_s: float | None
    groups: dict[str, GroupFigures]
    peak_pss_mib: float
    harness_pss_mib: float | None  # what fides_bench.py itself printed (whole trees, /proc)
    verified: str


class FidesHarness:
    """Drives `run_fides_bench.sh` steps and `fides_bench.py run` batches."""

    def __init__(self, py313: str, log_dir: Path) -> None:
        self.home = Path(os.environ.get("FIDES_BENCH_HOME", Path.home() / ".cache" / "fides-bench"))
        self.state = self.home / "state"
        self.log_dir = log_dir
        self.env = {**os.environ, "PY313": py313, "FIDES_BENCH_HOME": str(self.home)}
        # fides.env is a shell file: the harness sources it; fides_bench.py needs a few of it
        self.env.setdefault("FIDES_URL", "http://127.0.0.1:8080")

    def step(self, name: str, timeout: float = 900) -> str:
        """One harness step (install, db, start, setup, stop); its output goes to a log file."""
        log = self.log_dir / f"fides-{name}.log"
        with log.open("ab") as out:
            result = subprocess.run(
                [str(PEER_DIR / "run_fides_bench.sh"), name],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"fides harness step {name!r} failed; see {log}")
        return log.read_text(errors="replace")

    def _pid(self, name: str) -> int:
        return int((self.state / f"{name}.pid").read_text().split()[0])

    def _redis_pid(self) -> int | None:
        for proc in psutil.process_iter(["name", "cmdline"]):
            if proc.info["name"] == "redis-server" and ":6379" in " ".join(
                proc.info["cmdline"] or []
            ):
                return int(proc.pid)
        return None

    def sampler(self) -> Sampler:
        groups = {
            "api": tree_group(self._pid("webserver")),
            "worker": tree_group(self._pid("worker")),
            "postgres": postgres_group(postmaster_pid(PG_DATA_DIR), FIDES_DATABASES),
        }
        redis = self._redis_pid()
        if redis is not None:  # the machine's Redis (shared): Fides' broker and result store
            groups["redis"] = tree_group(redis)
        return Sampler(groups)

    def _driver(self, *argv: str, timeout: float) -> str:
        env = {**self.env}
        result = subprocess.run(
            ["/usr/bin/python3", str(PEER_DIR / "fides_bench.py"), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.state,
        )
        with (self.log_dir / "fides-driver.log").open("a") as log:
            log.write(f"$ fides_bench.py {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
        return result.stdout

    def warm_up(self, email: str) -> None:
        out = self._driver(
            "one", "--kind", "access", "--email", email, "--timeout", "120", timeout=150
        )
        if "complete after" not in out:
            raise RuntimeError("fides warm-up request did not complete; see fides-driver.log")

    def batch(self, kind: str, n: int, offset: int, timeout: float) -> FidesBatch:
        pids = ",".join(
            f"{name}={self.state / (name + '.pid')}" for name in ("webserver", "worker", "pg")
        ).replace("pg=", "postgres=")
        sampler = self.sampler().start()
        started = time.monotonic()
        out = self._driver(
            "run", "--kind", kind, "--n", str(n), "--offset", str(offset),
            "--timeout", str(timeout), "--poll", "2", "--pids", pids,
            "--out", str(self.log_dir / "fides-results.jsonl"),
            timeout=timeout + 60,
        )  # fmt: skip
        groups = sampler.stop()
        summary = _last_json(out)
        completed = int(summary.get("status_counts", {}).get("complete", 0))
        wall = summary.get("wall_s_first_submit_to_last_finished")
        return FidesBatch(
            kind=kind,
            n=n,
            completed=completed,
            # a batch cut off by --timeout: what completed per minute until then
            requests_per_min=summary.get("requests_per_min")
            or summary.get("completed_per_min_at_timeout"),
            wall_s=wall if wall is not None else round(time.monotonic() - started, 1),
            p50_latency_s=(summary.get("latency_s") or {}).get("p50"),
            groups=groups,
            peak_pss_mib=sampler.peak_total_pss_mib,
            harness_pss_mib=summary.get("pss_peak_total_mb"),
            verified="",
        )

    async def verify_erasure(self, offset: int, n: int) -> str:
        """Fides nulls customer.name/phone (and the address): count what is left."""
        # the peer's published local credentials (seed step of its harness), loopback only
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=5432,
            user="custuser",
            password="custpass",  # noqa: S106 - fixed test credentials of the peer's harness
            database="customers",
        )
        try:
            left = await conn.fetchval(
                "select count(*) from customer where id between $1 and $2 "
                "and (name is not null or phone is not null)",
                offset,
                offset + n - 1,
            )
        finally:
            await conn.close()
        return f"{n - left}/{n} erased"

    def clear_leftovers(self) -> None:
        """Work an interrupted earlier run left queued must not run in this one (it would take
        the worker's time and erase this run's customers): Fides' requests still pending or in
        processing are cancelled in its database, and its celery queues — Redis database 1,
        Fides' own (fides.env) — are emptied. Run before `start`."""
        subprocess.run(  # the peer's own database and role (fides.env)
            ["psql", "-h", "127.0.0.1", "-U", "fides", "-d", "fides", "-qAtc",
             "update privacyrequest set status = 'canceled'"
             " where status in ('pending', 'approved', 'in_processing')"],
            env={**self.env, "PGPASSWORD": "fidespass"},
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        keys = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "-n", "1", "--scan", "--pattern", "*"],
            capture_output=True, text=True, timeout=60, check=False,
        ).stdout.split()  # fmt: skip
        queued = [k for k in keys if k.startswith(("fides", "unacked"))]
        if queued:
            subprocess.run(
                ["redis-cli", "-h", "127.0.0.1", "-n", "1", "del", *queued],
                capture_output=True, timeout=60, check=False,
            )  # fmt: skip

    def _started_processes(self) -> list[psutil.Process]:
        found: list[psutil.Process] = []
        for name in ("webserver", "worker"):
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                root = psutil.Process(self._pid(name))
                found += [root, *root.children(recursive=True)]
        return found

    def stop(self) -> None:
        """The harness's stop, then any child of the API or worker it left behind (it signals
        the main pid only; a celery prefork child can outlive it)."""
        started = self._started_processes()
        with contextlib.suppress(Exception):
            self.step("stop", timeout=120)
        for proc in started:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _gone, alive = psutil.wait_procs(started, timeout=10)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()


def _last_json(out: str) -> dict[str, Any]:
    """fides_bench.py prints progress lines, then the summary as indented JSON."""
    start = out.rfind("\n{")
    text = out[start + 1 :] if start >= 0 else out[out.find("{") :]
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
