"""The worker's memory measures (orchestrator.worker): the sandbox's workflow modules share their
code objects between runs but nothing else, and the start-up heap is frozen out of the collector.
Each check runs in a fresh interpreter: both change process-wide state (sys.meta_path, gc)."""

from __future__ import annotations

import json
import subprocess
import sys

# What the workflow sandbox does for every run: import the workflow's modules afresh.
_TWO_RUNS = """
import json, sys
from orchestrator.worker import _CachedCodeLoader, cache_workflow_code
cache_workflow_code()
cache_workflow_code()  # idempotent

def fresh(name):
    for key in [k for k in sys.modules if k == "workflows" or k.startswith("workflows.")]:
        del sys.modules[key]
    __import__(name)
    return sys.modules[name]

first, second = fresh("workflows.packaging"), fresh("workflows.packaging")
run_a = first.PackageExpiryWorkflow.run
run_b = second.PackageExpiryWorkflow.run
import schemas.package
print(json.dumps({
    "loader": type(second.__spec__.loader).__name__,
    "same_module": first is second,
    "same_class": first.PackageExpiryWorkflow is second.PackageExpiryWorkflow,
    "same_function": run_a is run_b,
    "same_code": run_a.__code__ is run_b.__code__,
    "same_namespace": vars(first) is vars(second),
    "other_package_loader": type(schemas.package.__spec__.loader).__name__,
    "finders": sum(type(f).__name__ == "_CachedCodeFinder" for f in sys.meta_path),
}))
"""

_FREEZE = """
import gc, json
from orchestrator.worker import freeze_startup_heap
before = gc.get_freeze_count()
freeze_startup_heap()
print(json.dumps({"before": before, "after": gc.get_freeze_count(), "enabled": gc.isenabled()}))
"""


def _run(code: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    out: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def test_each_run_gets_its_own_module_and_classes_but_shares_the_code() -> None:
    seen = _run(_TWO_RUNS)
    assert seen == {
        "loader": "_CachedCodeLoader",
        "same_module": False,
        "same_class": False,  # a run's module state stays its own
        "same_function": False,
        "same_code": True,  # unmarshalled once: immutable, so sharing it is safe
        "same_namespace": False,
        "other_package_loader": "SourceFileLoader",  # only the workflow packages are cached
        "finders": 1,
    }


def test_the_start_up_heap_is_frozen_and_the_collector_stays_on() -> None:
    seen = _run(_FREEZE)
    assert seen["before"] == 0
    assert isinstance(seen["after"], int) and seen["after"] > 10_000
    assert seen["enabled"] is True
