"""A service process imports only what it runs (issue 8 §6, memory): `python -m orchestrator.cli
intake|worker` skips the CLI's command groups, and the intake starts the workflow through a typed
reference (workflows.contracts.DsrWorkflowRef) instead of importing workflows.dsr and the policy
package behind it (holidays of every country). Each check runs in a fresh interpreter, since this
test process has imported everything."""

from __future__ import annotations

import json
import subprocess
import sys
import typing

from workflows.contracts import DsrWorkflowRef
from workflows.dsr import DsrWorkflow

# Modules a service process has no use for: the DPO desk and other command groups, the
# workflow and the legal rules behind it (the worker loads those itself, in its own imports).
NOT_IN_THE_INTAKE = [
    "orchestrator.cli_desk",
    "orchestrator.cli_package",
    "orchestrator.cli_audit",
    "orchestrator.dpo",
    "workflows.dsr",
    "workflows.activities",
    "policy.deadlines",
    "holidays",
]

_RUN_AS_SERVICE = """
import json, runpy, sys
sys.argv = ["orchestrator.cli", "intake", "--help"]
try:
    runpy.run_module("orchestrator.cli", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
import orchestrator.intake.app  # what the intake command imports when it runs
print(json.dumps([name for name in {names!r} if name in sys.modules]))
"""


def _loaded(code: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_the_intake_starts_the_workflow_type_the_worker_registers() -> None:
    real = DsrWorkflow.__temporal_workflow_definition  # type: ignore[attr-defined]
    ref = DsrWorkflowRef.__temporal_workflow_definition  # type: ignore[attr-defined]
    assert ref.name == real.name
    # the same argument and result types, so the intake's call is checked as the worker's run
    assert typing.get_type_hints(DsrWorkflowRef.run) == typing.get_type_hints(DsrWorkflow.run)


def test_an_intake_process_imports_neither_command_groups_nor_the_workflow() -> None:
    assert _loaded(_RUN_AS_SERVICE.format(names=NOT_IN_THE_INTAKE)) == []


def test_the_cli_imported_as_a_module_still_registers_every_command_group() -> None:
    code = (
        "import json, sys, orchestrator.cli\n"
        "print(json.dumps([n for n in ['orchestrator.cli_desk', 'orchestrator.cli_dlq',"
        " 'orchestrator.cli_package'] if n in sys.modules]))"
    )
    assert _loaded(code) == [
        "orchestrator.cli_desk",
        "orchestrator.cli_dlq",
        "orchestrator.cli_package",
    ]
