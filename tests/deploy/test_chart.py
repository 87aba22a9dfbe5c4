"""The chart, offline: strict lint, strict validation of every manifest against Kubernetes
1.30 to 1.34 for the default and production-like values, what each process runs and may reach,
its security context and probes, that no secret is ever rendered, and that the values schema
refuses bad values."""

from __future__ import annotations

import copy
import re
from typing import Any

import helm_python
import kubernetes_validate
import pytest

from orchestrator.settings import Settings
from policy.loader import DEFAULT_POLICY_FILE, parse_policy
from tests.deploy.conftest import CHART, KUBE_VERSIONS, by_kind, production_values, render

CONNECTORS = ["billing", "hosting", "newsletter", "registrar", "support"]
PROCESSES = [
    "intake",
    "orchestrator",
    *(f"connector-{c}" for c in CONNECTORS),
    "api",
    "codec-server",
]
SECRETISH = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET|SALT|DATABASE_URL)", re.IGNORECASE)
# Not secrets: the public half of the audit key, and paths to mounted Secret files.
NOT_SECRET = re.compile(r"(PUBLIC_KEY|FILE)$")


def containers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = manifest["spec"]["template"]["spec"]["containers"]
    return result


def env_of(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in containers(manifest)[0].get("env", [])}


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
def test_lint_strict(kube: str) -> None:
    result = helm_python.lint(CHART, strict=True, kube_version=f"v{kube}.0")
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []


def test_lint_strict_with_production_values() -> None:
    result = helm_python.lint(CHART, production_values(), strict=True, kube_version="v1.32.0")
    assert result["errors"] == []
    assert [m for m in result["messages"] if m["severity"] > 1] == []


@pytest.mark.parametrize("kube", KUBE_VERSIONS)
@pytest.mark.parametrize("values", ["default", "production"])
def test_every_manifest_validates_strictly(
    kube: str,
    values: str,
    default_manifests: list[dict[str, Any]],
    production_manifests: list[dict[str, Any]],
) -> None:
    manifests = default_manifests if values == "default" else production_manifests
    assert manifests
    for manifest in manifests:
        if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            # A CRD the bundled schemas do not know; its shape is checked below.
            continue
        kubernetes_validate.validate(manifest, kube, strict=True)


def test_production_resource_list(production_manifests: list[dict[str, Any]]) -> None:
    kinds: dict[str, set[str]] = {}
    for m in production_manifests:
        kinds.setdefault(m["kind"], set()).add(
            m["metadata"].get("labels", {}).get("app.kubernetes.io/component", "-")
        )
    assert kinds["Deployment"] == set(PROCESSES)
    assert kinds["Service"] == set(PROCESSES)
    assert kinds["PodDisruptionBudget"] == set(PROCESSES)
    assert kinds["NetworkPolicy"] == {*PROCESSES, "migrations"}
    # hosting opts out of autoscaling in the production values
    assert kinds["HorizontalPodAutoscaler"] == {f"connector-{c}" for c in CONNECTORS} - {
        "connector-hosting"
    }
    assert kinds["Job"] == {"migrations"}
    assert kinds["ServiceMonitor"] == {"-"}
    assert "Secret" not in kinds
    budgets = by_kind(production_manifests, "PodDisruptionBudget")
    assert budgets["intake"]["spec"]["minAvailable"] == 2
    assert "maxUnavailable" not in budgets["intake"]["spec"]
    assert budgets["orchestrator"]["spec"]["maxUnavailable"] == 1
    deployments = by_kind(production_manifests, "Deployment")
    assert "replicas" not in deployments["connector-billing"]["spec"]  # the HPA owns it
    assert deployments["connector-hosting"]["spec"]["replicas"] == 1
    monitor = next(m for m in production_manifests if m["kind"] == "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s"}
    ]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_defaults_render_no_service_monitor_and_fixed_replicas(
    default_manifests: list[dict[str, Any]],
) -> None:
    assert not [m for m in default_manifests if m["kind"] in ("ServiceMonitor", "Secret")]
    assert not [m for m in default_manifests if m["kind"] == "HorizontalPodAutoscaler"]
    assert set(by_kind(default_manifests, "Deployment")) == set(PROCESSES)


def test_each_process_runs_its_command(production_manifests: list[dict[str, Any]]) -> None:
    deployments = by_kind(production_manifests, "Deployment")
    args = {name: containers(d)[0]["args"] for name, d in deployments.items()}
    assert args["intake"] == ["intake"]
    assert args["orchestrator"] == ["worker", "--no-connectors"]
    assert args["api"] == ["api"]
    assert args["codec-server"] == ["codec-server"]
    for connector in CONNECTORS:
        assert args[f"connector-{connector}"] == [
            "worker",
            "--no-orchestrator",
            "--connector",
            connector,
        ]
    image = containers(deployments["intake"])[0]["image"]
    assert image == "registry.example.se/privacy/dsr-orchestrator:0.1.0"
    concurrency = {
        c: env_of(deployments[f"connector-{c}"])["DSR_MAX_CONCURRENT_ACTIVITIES"]["value"]
        for c in CONNECTORS
    }
    assert concurrency == {
        "billing": "8",
        "hosting": "20",
        "newsletter": "20",
        "registrar": "20",
        "support": "4",
    }
    billing = containers(deployments["connector-billing"])[0]
    assert billing["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    assert billing["envFrom"][1] == {"secretRef": {"name": "dsr-connector-billing"}}
    assert env_of(deployments["api"])["DSR_API_BIND"]["value"] == "0.0.0.0:8400"
    codec_env = env_of(deployments["codec-server"])
    assert codec_env["DSR_CODEC_BIND"]["value"] == "0.0.0.0:8401"
    assert codec_env["DSR_CODEC_CORS_ORIGINS"]["value"] == "https://temporal-ui.internal.example.se"


def test_probes_use_the_health_endpoints(production_manifests: list[dict[str, Any]]) -> None:
    for name, deployment in by_kind(production_manifests, "Deployment").items():
        container = containers(deployment)[0]
        port = "http" if name in ("api", "codec-server") else "metrics"
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port}
        # every process serves /metrics (DSR_METRICS_BIND); the API and codec also their own port
        assert {p["name"] for p in container["ports"]} == {port, "metrics"}


def test_pods_are_locked_down(production_manifests: list[dict[str, Any]]) -> None:
    pods = [m for m in production_manifests if m["kind"] in ("Deployment", "Job")]
    assert len(pods) == len(PROCESSES) + 1
    for manifest in pods:
        spec = manifest["spec"]["template"]["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
        assert "emptyDir" in tmp
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}
            tmp_mount = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108 - an emptyDir, per pod
            assert tmp_mount in container["volumeMounts"]
            assert container["resources"]["requests"]
            assert container["resources"]["limits"]["memory"]


def test_egress_only_to_what_each_process_uses(production_manifests: list[dict[str, Any]]) -> None:
    values = production_values()
    np = values["networkPolicy"]
    policies = by_kind(production_manifests, "NetworkPolicy")
    dns = [
        {
            "to": [
                {"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
            ],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        }
    ]

    def egress(name: str) -> list[dict[str, Any]]:
        policy = policies[name]
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        result: list[dict[str, Any]] = policy["spec"]["egress"]
        return result

    base = dns + np["otlp"]
    for name in ("intake", "api"):
        assert egress(name) == base + np["kafka"] + np["temporal"] + np["store"]
    packages = np["packageStorage"]  # the S3 store: only where packages are read and written
    assert egress("orchestrator") == (base + np["kafka"] + np["temporal"] + np["store"] + packages)
    for connector in CONNECTORS:
        own = values["connectors"][connector]["egress"]
        assert egress(f"connector-{connector}") == (
            base + np["temporal"] + np["store"] + packages + own
        )
    assert egress("codec-server") == base + np["store"]
    assert egress("migrations") == dns + np["store"]
    # ingress: the API and the codec from the ingress controller, metrics from monitoring
    api_ingress = policies["api"]["spec"]["ingress"]
    assert {
        "from": np["ingressFrom"],
        "ports": [{"port": "http", "protocol": "TCP"}],
    } in api_ingress
    assert {"from": np["metricsFrom"], "ports": [{"port": "metrics", "protocol": "TCP"}]} in (
        policies["intake"]["spec"]["ingress"]
    )
    assert len(policies["intake"]["spec"]["ingress"]) == 1


def test_tls_and_sasl_wiring(production_manifests: list[dict[str, Any]]) -> None:
    config = next(m for m in production_manifests if m["kind"] == "ConfigMap")["data"]
    assert config["DSR_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["DSR_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["DSR_KAFKA_SSL_CAFILE"] == "/etc/dsr/kafka-tls/ca.crt"
    assert config["DSR_TEMPORAL_TLS"] == "true"
    assert config["DSR_TEMPORAL_TLS_CERT_FILE"] == "/etc/dsr/temporal-tls/tls.crt"
    assert config["DSR_TEMPORAL_NAMESPACE"] == "privacy"
    deployments = by_kind(production_manifests, "Deployment")

    def volumes(name: str) -> set[str]:
        return {v["name"] for v in deployments[name]["spec"]["template"]["spec"]["volumes"]}

    assert {"kafka-tls", "temporal-tls"} <= volumes("orchestrator")
    assert volumes("connector-billing") >= {"temporal-tls"}
    assert "kafka-tls" not in volumes("connector-billing")
    assert not {"kafka-tls", "temporal-tls"} & volumes("codec-server")
    assert env_of(deployments["intake"])["DSR_KAFKA_SASL_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "dsr-kafka-scram", "key": "password"}
    }
    assert "DSR_KAFKA_SASL_PASSWORD" not in env_of(deployments["connector-billing"])


def test_every_setting_the_chart_sets_exists(production_manifests: list[dict[str, Any]]) -> None:
    fields = {f"DSR_{name.upper()}" for name in Settings.model_fields}
    config = next(m for m in production_manifests if m["kind"] == "ConfigMap")["data"]
    names = {k for k in config if k.startswith("DSR_")}
    for deployment in by_kind(production_manifests, "Deployment").values():
        names |= set(env_of(deployment))
    connector_env = {
        k for c in production_values()["connectors"].values() for k in c.get("env", {})
    }
    assert names - connector_env - fields == set()


def test_the_schedules_intervals_reach_the_worker_as_settings() -> None:
    """The shred sweep's and the reconciler's intervals are values of their own (an operator
    tunes how soon a closed request's key is destroyed without knowing the variable's name)."""
    values = _merge(
        production_values(), {"settings": {"shredInterval": 3600, "reconcileInterval": 0}}
    )
    config = next(m for m in render(values) if m["kind"] == "ConfigMap")["data"]
    settings = Settings(
        shred_interval=config["DSR_SHRED_INTERVAL"],
        reconcile_interval=config["DSR_RECONCILE_INTERVAL"],
    )
    assert (settings.shred_interval, settings.reconcile_interval) == (3600.0, 0.0)


def test_least_privilege_secrets(production_manifests: list[dict[str, Any]]) -> None:
    deployments = by_kind(production_manifests, "Deployment")
    secrets = {
        name: {k for k, e in env_of(d).items() if "valueFrom" in e}
        for name, d in deployments.items()
    }
    assert "DSR_SIGNING_KEYS" in secrets["intake"]
    assert "DSR_AUDIT_SIGNING_KEY" in secrets["orchestrator"]
    assert {k for s in secrets.values() for k in s if k == "DSR_SIGNING_KEYS"} == {
        "DSR_SIGNING_KEYS"
    }
    assert [n for n, s in secrets.items() if "DSR_SIGNING_KEYS" in s] == ["intake"]
    assert [n for n, s in secrets.items() if "DSR_AUDIT_SIGNING_KEY" in s] == ["orchestrator"]
    assert sorted(n for n, s in secrets.items() if "DSR_API_TOKENS" in s) == ["api", "codec-server"]


SECRET_MATERIAL = {
    "DSR_SIGNING_KEYS": "portal-1:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "DSR_PAYLOAD_KEYS": "k1:NhJEpzadSVkJ5MNLRGhGFywf8JR5DMN7EFFSIqClg+Q=",
    "DSR_API_TOKENS": "dpo:dpo:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    "DSR_AUDIT_SIGNING_KEY": "c2VjcmV0LXNlZWQtb2YtdGhpcnR5LXR3by1ieXRlcyE=",
    "DSR_DATABASE_URL": "postgresql+asyncpg://dsr:Hunter2-pg@db/dsr",
    "DSR_KAFKA_SASL_PASSWORD": "scram-Hunter2",
    "DSR_TEMPORAL_API_KEY": "tmprl-api-key-Hunter2",
    "DSR_BILLING_DATABASE_URL": "postgresql://billing:Hunter2-billing@10.20.30.4/billing",
    "DSR_SUPPORT_API_TOKEN": "zendesk-Hunter2",
    "DSR_PACKAGE_S3_ACCESS_KEY_ID": "AKIAHunter2EXAMPLE00",
    "DSR_PACKAGE_S3_SECRET_ACCESS_KEY": "s3-secret-Hunter2",
}


@pytest.mark.parametrize("name", sorted(SECRET_MATERIAL))
@pytest.mark.parametrize(
    "place",
    [("settings", "extra"), ("extraEnv",), ("connectors", "billing", "env")],
    ids=lambda p: ".".join(p),
)
def test_secret_values_cannot_be_given_as_values(name: str, place: tuple[str, ...]) -> None:
    values = production_values()
    target = values
    for key in place:
        target = target.setdefault(key, {})
    target[name] = SECRET_MATERIAL[name]
    with pytest.raises(helm_python.HelmValuesError, match="invalid propertyName"):
        render(values)


def test_no_rendered_manifest_holds_a_secret(production_manifests: list[dict[str, Any]]) -> None:
    text = repr(production_manifests)
    for value in SECRET_MATERIAL.values():
        assert value not in text
        assert "Hunter2" not in text
    assert not [m for m in production_manifests if m["kind"] == "Secret"]
    for manifest in production_manifests:
        if manifest["kind"] == "ConfigMap":
            leaked = [
                k for k in manifest["data"] if SECRETISH.search(k) and not NOT_SECRET.search(k)
            ]
            assert leaked == []
        if manifest["kind"] in ("Deployment", "Job"):
            for container in manifest["spec"]["template"]["spec"]["containers"]:
                for entry in container.get("env", []):
                    if SECRETISH.search(entry["name"]) and not NOT_SECRET.search(entry["name"]):
                        assert "value" not in entry, entry["name"]
                        assert set(entry["valueFrom"]) == {"secretKeyRef"}


BAD_VALUES = {
    "root user": {"podSecurityContext": {"runAsNonRoot": False}},
    "writable root fs": {
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": False,
            "capabilities": {"drop": ["ALL"]},
        }
    },
    "added capability": {
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]},
        }
    },
    "unknown top-level key": {"kafka": {"enabled": True}},
    "unknown protocol": {"settings": {"kafka": {"securityProtocol": "TLS"}}},
    "inline SASL password": {"secrets": {"kafkaSasl": {"password": "x"}}},
    "temporal address without port": {"settings": {"temporal": {"address": "temporal"}}},
    "zero concurrency": {"connectors": {"billing": {"concurrency": 0}}},
    "connector name": {"connectors": {"Bad-Name": {"enabled": True, "existingSecret": "x"}}},
    "renamed secret key": {"secrets": {"keys": {"payloadKeys": "PAYLOAD"}}},
    "no secret name": {"secrets": {"existingSecret": ""}},
    "negative pdb": {"intake": {"podDisruptionBudget": {"maxUnavailable": -1}}},
    "privileged port": {"api": {"port": 80}},
    "no shred sweep": {"settings": {"shredInterval": 0}},
    "negative reconcile interval": {"settings": {"reconcileInterval": -1}},
}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_values_schema_rejects_bad_values(case: str) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(_merge(production_values(), BAD_VALUES[case]))


def test_policy_file_is_a_mounted_config_map() -> None:
    content = DEFAULT_POLICY_FILE.read_text()
    manifests = render({"policy": {"content": content}})
    maps = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "ConfigMap"}
    policy = maps["dsr-dsr-orchestrator-policy"]["data"]["policy.yaml"]
    assert parse_policy(policy.encode()).digest == parse_policy(content.encode()).digest
    assert maps["dsr-dsr-orchestrator"]["data"]["DSR_POLICY_FILE"] == "/etc/dsr/policy/policy.yaml"
    orchestrator = by_kind(manifests, "Deployment")["orchestrator"]
    mounts = containers(orchestrator)[0]["volumeMounts"]
    assert {"name": "policy", "mountPath": "/etc/dsr/policy", "readOnly": True} in mounts
    assert "DSR_POLICY_FILE" not in next(m for m in render() if m["kind"] == "ConfigMap")["data"]


def test_migrations_run_before_install_and_upgrade(
    production_manifests: list[dict[str, Any]],
) -> None:
    job = next(m for m in production_manifests if m["kind"] == "Job")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = containers(job)[0]
    assert container["command"] == ["python", "-m", "orchestrator.store", "upgrade"]
    assert [e["name"] for e in container["env"]] == ["DSR_DATABASE_URL"]
    account = job["spec"]["template"]["spec"]["serviceAccountName"]
    hook_accounts = [
        m
        for m in production_manifests
        if m["kind"] == "ServiceAccount" and m["metadata"]["name"] == account
    ]
    # the release's own ServiceAccount does not exist yet when a pre-install hook runs
    assert (
        hook_accounts
        and hook_accounts[0]["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10"
    )


def test_switches_turn_parts_off_cleanly() -> None:
    values = {
        "api": {"enabled": False},
        "codecServer": {"enabled": False},
        "migrations": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "serviceAccount": {"create": False, "name": "existing"},
        "connectors": {c: {"enabled": c == "billing"} for c in CONNECTORS},
    }
    manifests = render(values)
    kinds = {m["kind"] for m in manifests}
    assert not kinds & {"NetworkPolicy", "Job", "ServiceAccount"}
    assert set(by_kind(manifests, "Deployment")) == {"intake", "orchestrator", "connector-billing"}
    for deployment in by_kind(manifests, "Deployment").values():
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "existing"
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.32", strict=True)
