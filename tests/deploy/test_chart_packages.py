"""The chart's package storage: `local` keeps the directory on the data volume; `s3` renders the
bucket settings into the ConfigMap and the access key id and secret from a Secret, only into the
processes that read and write packages (orchestrator, connector workers), with their egress; the
schema refuses an S3 setup without a bucket, an unknown backend and inline credentials."""

from __future__ import annotations

from typing import Any

import helm_python
import kubernetes_validate
import pytest

from tests.deploy.conftest import by_kind, production_values, render
from tests.deploy.test_chart import CONNECTORS, _merge, env_of

S3_VALUES: dict[str, Any] = {
    "settings": {
        "packageStorage": "s3",
        "packageS3": {"endpoint": "http://minio.storage.svc:9000", "bucket": "dsr-packages"},
    },
    "secrets": {"packageS3": {"existingSecret": "dsr-package-store"}},
}


def _config(manifests: list[dict[str, Any]]) -> dict[str, str]:
    maps = [m for m in manifests if m["kind"] == "ConfigMap"]
    data: dict[str, str] = next(m for m in maps if not m["metadata"]["name"].endswith("-policy"))[
        "data"
    ]
    return data


def test_local_is_the_default_and_renders_no_s3_setting(
    default_manifests: list[dict[str, Any]],
) -> None:
    config = _config(default_manifests)
    assert config["DSR_PACKAGE_STORAGE"] == "local"
    assert config["DSR_PACKAGE_DIR"] == "/data/packages"
    assert not [k for k in config if k.startswith("DSR_PACKAGE_S3_")]
    assert "DSR_EXPORT_DIR" not in config  # the plaintext export directory is gone
    for deployment in by_kind(default_manifests, "Deployment").values():
        assert not [k for k in env_of(deployment) if k.startswith("DSR_PACKAGE_S3_")]


def test_s3_settings_and_credentials_from_a_secret() -> None:
    manifests = render(S3_VALUES)
    config = _config(manifests)
    assert {k: v for k, v in config.items() if k.startswith("DSR_PACKAGE_")} == {
        "DSR_PACKAGE_STORAGE": "s3",
        "DSR_PACKAGE_DIR": "/data/packages",
        "DSR_PACKAGE_S3_ENDPOINT": "http://minio.storage.svc:9000",
        "DSR_PACKAGE_S3_BUCKET": "dsr-packages",
        "DSR_PACKAGE_S3_PREFIX": "packages/",
        "DSR_PACKAGE_S3_REGION": "us-east-1",
    }
    deployments = by_kind(manifests, "Deployment")
    with_credentials = sorted(
        name
        for name, deployment in deployments.items()
        if "DSR_PACKAGE_S3_SECRET_ACCESS_KEY" in env_of(deployment)
    )
    assert with_credentials == sorted(["orchestrator", *(f"connector-{c}" for c in CONNECTORS)])
    env = env_of(deployments["orchestrator"])
    assert env["DSR_PACKAGE_S3_ACCESS_KEY_ID"] == {
        "name": "DSR_PACKAGE_S3_ACCESS_KEY_ID",
        "valueFrom": {"secretKeyRef": {"name": "dsr-package-store", "key": "access-key-id"}},
    }
    assert env["DSR_PACKAGE_S3_SECRET_ACCESS_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "dsr-package-store", "key": "secret-access-key"}
    }
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.32", strict=True)


def test_no_secret_named_means_the_sdk_chain() -> None:
    values = _merge(S3_VALUES, {"secrets": {"packageS3": {"existingSecret": ""}}})
    manifests = render(values)
    assert _config(manifests)["DSR_PACKAGE_S3_BUCKET"] == "dsr-packages"
    for deployment in by_kind(manifests, "Deployment").values():
        assert not [k for k in env_of(deployment) if k.startswith("DSR_PACKAGE_S3_")]


def test_production_values_keep_packages_in_s3(production_manifests: list[dict[str, Any]]) -> None:
    config = _config(production_manifests)
    assert config["DSR_PACKAGE_STORAGE"] == "s3"
    assert config["DSR_PACKAGE_S3_BUCKET"] == "dsr-packages"
    assert config["DSR_PACKAGE_S3_PREFIX"] == "prod/"
    assert "DSR_PACKAGE_S3_SECRET_ACCESS_KEY" not in config
    rules = production_values()["networkPolicy"]["packageStorage"]
    policies = by_kind(production_manifests, "NetworkPolicy")
    for name in ("orchestrator", "connector-billing"):
        assert all(rule in policies[name]["spec"]["egress"] for rule in rules)
    for name in ("intake", "api", "codec-server", "migrations"):
        assert not [r for r in rules if r in policies[name]["spec"]["egress"]]


BAD_PACKAGE_VALUES: dict[str, dict[str, Any]] = {
    "s3 without a bucket": {"settings": {"packageStorage": "s3", "packageS3": {"bucket": ""}}},
    "unknown backend": {"settings": {"packageStorage": "gcs"}},
    "bucket name": {"settings": {"packageS3": {"bucket": "Not_A_Bucket"}}},
    "endpoint without scheme": {"settings": {"packageS3": {"endpoint": "minio:9000"}}},
    "inline secret key": {"settings": {"packageS3": {"secretAccessKey": "x"}}},
    "inline secret in secrets": {"secrets": {"packageS3": {"secretAccessKey": "x"}}},
    "export dir is gone": {"settings": {"exportDir": "/data/exports"}},
}


@pytest.mark.parametrize("case", sorted(BAD_PACKAGE_VALUES))
def test_values_schema_rejects_bad_package_values(case: str) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(_merge(production_values(), BAD_PACKAGE_VALUES[case]))
