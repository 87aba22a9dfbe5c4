"""How a `dsr` process ends once it has used a Temporal client: through its exit handlers and
flushed streams, with the command's status, but without interpreter finalization, where the
SDK's native threads can abort the process (temporalio/sdk-python#300: "PyGILState_Release …
runtime state: finalizing", status -6, seen intermittently on `dsr confirm-identity`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import _exit_status

# The console script, with two witnesses: an exit handler (must run) and an object whose
# finaliser runs only when the interpreter finalizes (must not, once Temporal was touched).
SCRIPT = """
import atexit, sys
from pathlib import Path

out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))


class FinalisedAtInterpreterExit:
    def __del__(self):
        (out / "finalized").write_text("ran")


witness = FinalisedAtInterpreterExit()
print("buffered before exit")  # a pipe: block-buffered, lost by a bare os._exit
sys.argv = ["dsr", *sys.argv[2:]]
from devstack.cli import main

main()
"""


def _dsr(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
    env |= {
        "DSR_ENV_FILE": "/nonexistent/dsr-test.env",
        "DSR_TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing listens on port 1
        "DSR_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "DSR_SIGNING_KEYS": "portal:abc",
        "DSR_PAYLOAD_KEYS": "k:" + "A" * 43 + "=",
        "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}",
    }
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_command_that_used_temporal_skips_finalization_but_not_its_exit_work(
    tmp_path: Path,
) -> None:
    result = _dsr(tmp_path, "approve", "req-0001abcd", "--actor", "dpo@example.se")
    assert result.returncode == 1, result.stderr  # the command's own status survives
    assert "Temporal is unreachable" in result.stderr
    assert "buffered before exit" in result.stdout
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "finalized").exists()


def test_a_command_that_never_touched_temporal_ends_normally(tmp_path: Path) -> None:
    result = _dsr(tmp_path, "schema", "export", str(tmp_path / "schemas"))
    assert result.returncode == 0, result.stderr
    assert "buffered before exit" in result.stdout
    assert (tmp_path / "atexit").read_text() == "ran"
    assert (tmp_path / "finalized").read_text() == "ran"


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), ("bye", 1)])
def test_exit_codes_map_as_the_interpreter_maps_them(
    code: object, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _exit_status(code) == status
    assert capsys.readouterr().err == ("bye\n" if code == "bye" else "")


CRASHING = """
import sys
import schemas.export

def crash(*_args, **_kwargs):
    raise RuntimeError("lookup failed for anna.svensson@example.se, 198112189876")

schemas.export.export_json_schemas = crash  # a bug, met while handling personal data
sys.argv = ["dsr", "schema", "export", sys.argv[1]]
from devstack.cli import main

main()
"""


def test_an_unhandled_error_is_reported_through_the_redaction(tmp_path: Path) -> None:
    """An exception's text can quote what it failed on; a service's stderr ends in log files.
    The interpreter's (and Typer's) own report printed it raw."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
    result = subprocess.run(
        [sys.executable, "-c", CRASHING, str(tmp_path)],
        env={**env, "DSR_ENV_FILE": "/nonexistent/dsr-test.env"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "unhandled error" in result.stderr and "RuntimeError: lookup failed" in result.stderr
    assert "anna.svensson" not in result.stderr and "198112189876" not in result.stderr
