"""A service that cannot do its work ends, non-zero, with one line saying why: it never stays up
doing nothing. `dsr worker` whose Temporal schedules cannot be set up stopped its workers'
tasks half-way ("Worker cancelled") and idled until the stop watchdog; `dsr intake` whose agent
crashed at every start stayed up consuming nothing while faust restarted it forever."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Infra

pytestmark = pytest.mark.integration

# Far above a cold start on a busy machine; a process that idles instead of exiting hits it.
EXIT_TIMEOUT = 90


def _run(infra: Infra, root: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
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
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
        check=False,
    )


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_worker_whose_schedules_cannot_be_set_up_exits_in_one_line(
    infra: Infra, tmp_path: Path
) -> None:
    """A namespace the server does not have: the schedules fail before any worker runs."""
    result = _run(
        infra,
        tmp_path,
        ["-m", "orchestrator.cli", "worker", "--no-connectors"],
        DSR_TEMPORAL_NAMESPACE=f"no-such-namespace-{secrets.token_hex(4)}",
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert _last_line(result).startswith("error: the worker's Temporal schedules"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "workers started" not in result.stderr  # nothing ran that would need cancelling


# The agent's Temporal connection raising what the SDK raises for a target it refuses (the
# settings now refuse such an address at start, so the fault is injected).
_AGENT_CANNOT_START = """
import sys
import orchestrator.intake.app as intake_app

async def refused(*args, **kwargs):
    raise ValueError("invalid target URL: invalid port number")

intake_app.connect_temporal_retrying = refused
sys.argv = ["dsr", "intake"]
from orchestrator.cli import main
main()
"""


def test_intake_whose_agent_keeps_crashing_exits_non_zero(infra: Infra, tmp_path: Path) -> None:
    result = _run(infra, tmp_path, ["-c", _AGENT_CANNOT_START])
    assert result.returncode == 1, result.stderr[-3000:]
    assert _last_line(result).startswith("error: the intake agent crashed 2 times"), result.stderr
