"""The Helm chart rendered offline (helm-python-sdk: Helm v4 as a library), once per values set."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate.utils
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "dsr-orchestrator"
PRODUCTION_VALUES = Path(__file__).with_name("values-production.yaml")
KUBE_VERSIONS = ["1.30", "1.31", "1.32", "1.33", "1.34"]
RELEASE, NAMESPACE = "dsr", "privacy"


@pytest.fixture(scope="session", autouse=True)
def _cached_kubernetes_schemas() -> None:
    """kubernetes-validate re-reads and re-parses its multi-megabyte definitions file for every
    manifest; the files never change during a run, so parse each once (same library, same
    schemas, 4 s → 0.2 s per Kubernetes version)."""
    utils = kubernetes_validate.utils
    if not hasattr(utils.schema_contents, "cache_info"):
        utils.schema_contents = functools.cache(utils.schema_contents)  # type: ignore[assignment]


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every manifest the chart renders for `values` (NOTES.txt left out), parsed."""
    rendered = helm_python.Chart.load(CHART).render(
        values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True
    )
    manifests = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return manifests


def production_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(PRODUCTION_VALUES.read_text())
    return loaded


@pytest.fixture(scope="session")
def default_manifests() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="session")
def production_manifests() -> list[dict[str, Any]]:
    return render(production_values())


def by_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Manifests of one kind by their component label (or name)."""
    found = {}
    for m in manifests:
        if m["kind"] == kind:
            labels = m["metadata"].get("labels", {})
            found[labels.get("app.kubernetes.io/component", m["metadata"]["name"])] = m
    return found
