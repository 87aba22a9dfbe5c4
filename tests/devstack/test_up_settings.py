"""`dsr up` names a bad setting in one line before it starts anything: it used to print its
"running" banner, then die seconds later with the cause only in a service's log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devstack.localstack import free_port
from devstack.up import LOCAL_PORTS


def test_a_bad_setting_stops_dsr_up_before_anything_starts(tmp_path: Path) -> None:
    ports = ",".join(f"{name}={free_port()}" for name in LOCAL_PORTS)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dsr"), "up", "--state-dir", str(tmp_path / "s")],
        env={**os.environ, "DSR_UP_PORTS": ports, "DSR_CLOCK_SKEW_ALLOWANCE": "soon"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "DSR_CLOCK_SKEW_ALLOWANCE" in result.stdout
    assert "soon" not in result.stdout  # never the value
    assert "starting" not in result.stdout and "running" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "s" / "logs").exists() or not any((tmp_path / "s" / "logs").iterdir())
