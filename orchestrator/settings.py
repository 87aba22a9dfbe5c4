"""Settings from the environment (prefix `DSR_`). Defaults are production-sane; `dsr up` and the
test fixtures set local values explicitly. Secrets are `SecretStr` so they never print.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from schemas.workflow import WorkflowTuning

if TYPE_CHECKING:
    from connectors.base import Connector
    from policy.model import Policy

__all__ = [
    "LOCAL_ENV_FILE",
    "InvalidSettings",
    "Settings",
    "configured_connector_classes",
    "describe_invalid_settings",
    "get_settings",
    "load_configured_policy",
    "parse_bind",
    "parse_key_ring",
]

LOCAL_ENV_FILE = ".state/local.env"


def parse_key_ring(raw: str) -> dict[str, bytes]:
    """`id:secret[,id:secret...]` → {id: secret bytes}. Several keys allow rotation; the first
    is the active one. An id given twice is refused: the later secret silently replaced the
    earlier one while keeping its place, so the active key could be another than the one
    written first, and data wrapped under the replaced secret became unreadable. A value with
    separators but no pair (`,`) is refused too: it reads as a ring, and is none."""
    ring: dict[str, bytes] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        key_id, sep, secret = part.partition(":")
        if not sep or not key_id or not secret:
            raise ValueError("keys must be id:secret pairs separated by commas")
        if key_id in ring:
            raise ValueError(f"key id {key_id!r} is given twice (each id names one key)")
        ring[key_id] = secret.encode()
    if raw.strip() and not ring:
        raise ValueError("keys must be id:secret pairs separated by commas")
    return ring


def _decode_payload_keys(ring: dict[str, bytes]) -> dict[str, bytes]:
    decoded = {key_id: base64.b64decode(secret, validate=True) for key_id, secret in ring.items()}
    for key_id, key in decoded.items():
        if len(key) != 32:
            raise ValueError(f"payload key {key_id!r} must be 32 bytes (base64 of 32 bytes)")
    return decoded


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Upper bounds (seconds unless named otherwise). A value past them was accepted at start and
# broke later: a dead letter's expiry overflowing datetime (the intake retried its record
# forever), the shutdown watchdog's timer dying of OverflowError (an unbounded stop), a fetch
# or schedule interval timedelta() refuses. Each is far beyond anything sensible.
HOUR = 3600.0
DAY = 24 * HOUR
YEAR = 365 * DAY
MAX_DLQ_RETENTION_DAYS = 3650.0  # ten years
MAX_EVENT_BYTES = 64 * 1024 * 1024
MAX_PARTITIONS = 10_000
MAX_CONCURRENT_ACTIVITIES = 10_000
MAX_PORT = 65535


def _host_port(value: str, what: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:9092`) with a host and a port 1-65535, else ValueError
    (never quoting the value: the message is printed)."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip().strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= MAX_PORT:
        raise ValueError(f"{what} must be host:port with a port 1-{MAX_PORT}")
    return host, int(port)


class Settings(BaseSettings):
    # Real environment variables win; the file is what `dsr up` writes for the shells beside it.
    model_config = SettingsConfigDict(
        env_prefix="DSR_",
        extra="ignore",
        env_file=os.environ.get("DSR_ENV_FILE", LOCAL_ENV_FILE),
        # `inf` and `nan` parse as floats and pass every lower bound: refused, by name.
        allow_inf_nan=False,
    )

    # Event bus
    kafka_bootstrap_servers: str = "localhost:9092"
    requests_topic: str = "dsr.requests.v1"
    dlq_topic: str = "dsr.requests.v1.dlq"
    status_topic: str = "dsr.status.v1"
    intake_group: str = "dsr-intake"
    # Production-sane defaults; the local broker wants short ones (LOCAL-INFRA.md).
    kafka_session_timeout: float = Field(default=30.0, gt=0, le=HOUR)
    kafka_heartbeat_interval: float = Field(default=3.0, gt=0, le=HOUR)
    kafka_rebalance_timeout: float = Field(default=60.0, gt=0, le=HOUR)
    # Longest a consumer fetch may wait for records (seconds; faust alone would wait 1.5 s).
    kafka_fetch_max_wait: float = Field(default=0.1, gt=0, le=60)
    # Larger events are dead-lettered unread (`oversize`); it must hold one event at least.
    max_event_bytes: int = Field(default=256 * 1024, ge=1024, le=MAX_EVENT_BYTES)
    # Dead letters are readable (sealed, by an operator) for this long, then expire: the DLQ
    # topic's retention.ms and the expiry inside every sealed value (privacy policy: 30 days).
    # 0 would drop them as written; past ten years the expiry inside a sealed value overflowed.
    dlq_retention_days: float = Field(default=30.0, gt=0, le=MAX_DLQ_RETENTION_DAYS)
    # Seconds between reconciler runs (the Temporal Schedule the worker creates); 0 = no
    # schedule (run `dsr reconcile` by hand).
    reconcile_interval: float = Field(default=900.0, ge=0, le=YEAR)
    requests_partitions: int = Field(default=8, ge=1, le=MAX_PARTITIONS)
    intake_datadir: Path = Path("intake-data")

    # Workflow engine
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    orchestrator_task_queue: str = "dsr-orchestrator"
    connector_task_queue_prefix: str = "dsr-connector-"
    # AES-256-GCM keys for Temporal payloads: `id:base64key[,id:base64key]`, first one encrypts.
    payload_keys: SecretStr = SecretStr("")
    # Connector activity tuning (seconds); short values only for tests and the local stack.
    activity_heartbeat_timeout: float = Field(default=30.0, gt=0, le=DAY)
    activity_start_to_close: float = Field(default=900.0, gt=0, le=YEAR)
    retry_maximum_interval: float = Field(default=300.0, gt=0, le=DAY)
    # Activities one connector worker process runs at once (empty = Temporal's default, 100).
    max_concurrent_activities: int | None = Field(default=None, ge=1, le=MAX_CONCURRENT_ACTIVITIES)
    # Workflow runs the orchestrator worker keeps in memory between tasks (Temporal's
    # max_cached_workflows, default 1000). Each cached run holds its own sandboxed copy of the
    # workflow modules; an evicted run is replayed from its history on its next task, which
    # costs CPU: in bench/peer_fides.py's 200-request burst, 64 held the worker at 208-214 MiB
    # PSS but cut it from 205-213 to 150-157 req/min (worker CPU 0.13-0.21 -> 0.33-0.35 s per
    # request); 256 (more than the burst) kept the speed at 240-247 MiB.
    workflow_cache_size: int = Field(default=256, ge=0, le=10_000)

    # Store
    database_url: str = "sqlite+aiosqlite:///dsr.db"
    # Most store connections one service process holds (no overflow). Store statements take
    # milliseconds, and each PostgreSQL backend costs ~7 MiB: SQLAlchemy's default let a 200-
    # request burst open 10; with 4 (and billing's 4) bench/peer_fides.py ran 162-191 req/min
    # against 158-208 before, postgres' share 84-95 MiB against 123-131.
    store_pool_size: int = Field(default=4, ge=1, le=100)

    # Signing keys of the portal: `id:secret[,id:secret...]`.
    signing_keys: SecretStr = SecretStr("")

    # Connectors: which ones this deployment runs (empty = every registered one).
    # Every list setting is NoDecode + `_split`: the documented comma-separated form
    # (DSR_CONNECTORS=billing,support), JSON (`["billing"]`) still accepted.
    connectors: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # DEBUG | INFO | WARNING | ERROR | CRITICAL (any case); `json` lines or `console` text.
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    # Seconds a service may take to drain on SIGTERM/SIGINT before it exits anyway (Kubernetes'
    # default grace period is 30 s; everything is crash-safe, so a forced exit loses nothing).
    shutdown_timeout: float = Field(default=20.0, gt=0, le=HOUR)

    # Connection security for production clusters (plain TCP on the local stack).
    # Kafka: PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL;
    # SASL: PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    # Temporal: TLS (optionally mutual, with client cert and key) and/or an API key.
    temporal_tls: bool = False
    temporal_tls_ca_file: Path | None = None
    temporal_tls_cert_file: Path | None = None
    temporal_tls_key_file: Path | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: SecretStr | None = None

    # Policy: the company's retention and deadline rules (empty = the shipped policy/default.yaml).
    policy_file: Path | None = None
    # Intake: how far in the future `received_at` may lie (clock skew between portal and us).
    clock_skew_allowance: float = Field(default=300.0, ge=0, le=DAY)

    # Access packages (encrypted archives) for access and portability requests.
    package_dir: Path = Path("packages")
    # Where packages are kept: `local` (package_dir) or `s3` (any S3-compatible store). The S3
    # credentials may also come from the standard AWS_* variables / profile when left empty.
    package_storage: Literal["local", "s3"] = "local"
    package_s3_endpoint: str = ""
    package_s3_bucket: str = ""
    package_s3_prefix: str = "packages/"
    package_s3_region: str = "us-east-1"
    package_s3_access_key_id: str = ""
    package_s3_secret_access_key: SecretStr = SecretStr("")
    # Server-side encryption asked of the bucket on top of ours (`AES256`, `aws:kms`; empty: none).
    package_s3_server_side_encryption: str = ""

    # Observability: `host:port` of this process's metrics/health endpoint (empty = off);
    # OpenTelemetry export is on when OTEL_EXPORTER_OTLP_ENDPOINT is set (standard OTel variable).
    metrics_bind: str = ""

    # DPO desk: API/dashboard bind, bearer tokens `name:role:sha256hex[,...]`, the codec server
    # for the Temporal Web UI, and the Ed25519 key (base64 of the 32-byte seed) signing audit heads.
    api_bind: str = "127.0.0.1:8400"
    api_tokens: SecretStr = SecretStr("")
    codec_bind: str = "127.0.0.1:8401"
    codec_cors_origins: str = "http://127.0.0.1:8233,http://localhost:8233"
    audit_signing_key: SecretStr = SecretStr("")
    audit_checkpoint_topic: str = "dsr.audit-checkpoints.v1"
    # Auditors without the private key verify checkpoints with the public key alone
    # (base64 of the 32-byte raw Ed25519 public key; empty = derive from the signing key).
    audit_public_key: str = ""
    # How often each orchestrator worker signs and publishes the chain head (seconds).
    audit_checkpoint_interval: float = Field(default=3600.0, gt=0, le=YEAR)
    # Keyed hash of subject identifiers (repeated-request detection): base64 secret.
    subject_hash_key: SecretStr = SecretStr("")
    # Crypto-shredding sweep (a Temporal Schedule): how often closed requests whose retention has
    # ended get their data key destroyed (seconds).
    shred_interval: float = Field(default=86400.0, ge=0, le=YEAR)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"one of {', '.join(_LOG_LEVELS)}")
        return level

    @field_validator("connectors", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                return json.loads(value)  # a ValueError becomes a ValidationError naming the field
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _brokers(cls, value: str) -> str:
        servers = [server.strip() for server in value.split(",") if server.strip()]
        if not servers:
            raise ValueError("required: host:port[,host:port...]")
        for server in servers:
            # A host alone is a Kafka client's default port (9092), as aiokafka takes it.
            plain_host = ":" not in server or (server.startswith("[") and server.endswith("]"))
            if not plain_host:
                _host_port(server, "each broker")
        return ",".join(servers)

    @field_validator("temporal_address")
    @classmethod
    def _temporal_target(cls, value: str) -> str:
        _host_port(value, "the Temporal address")
        return value.strip()

    @field_validator("api_bind", "codec_bind", "metrics_bind")
    @classmethod
    def _bind(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "metrics_bind" and not value.strip():
            return ""  # the metrics endpoint is off
        try:
            parse_bind(value)
        except ValueError:  # its message quotes the value, which this one must not
            raise ValueError(f"must be host:port with a port 0-{MAX_PORT}") from None
        return value.strip()

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url  # here: not every importer of settings needs it
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value.strip()).drivername.partition("+")[0]
        except (ArgumentError, ValueError):
            raise ValueError(
                "not a database URL (sqlite+aiosqlite:///<file> or postgresql+asyncpg://…)"
            ) from None
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("unsupported database: use sqlite+aiosqlite or postgresql+asyncpg")
        return value.strip()

    @field_validator("policy_file", mode="before")
    @classmethod
    def _policy_file(cls, value: object) -> object:
        """Empty means the shipped policy (it was Path('.'), a directory)."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("audit_signing_key", "subject_hash_key")
    @classmethod
    def _base64_secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        raw = value.get_secret_value().strip()
        if raw:
            decoded = _base64(raw)
            if info.field_name == "audit_signing_key" and len(decoded) != 32:
                raise ValueError("must be base64 of a 32-byte Ed25519 seed")
        return value

    @field_validator("audit_public_key")
    @classmethod
    def _base64_public_key(cls, value: str) -> str:
        if value.strip() and len(_base64(value.strip())) != 32:
            raise ValueError("must be base64 of a 32-byte Ed25519 public key")
        return value

    @field_validator("signing_keys", "payload_keys")
    @classmethod
    def _key_ring_form(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        """A malformed key ring fails at start-up, naming the variable (not at first use)."""
        ring = parse_key_ring(value.get_secret_value())
        if info.field_name == "payload_keys":
            _decode_payload_keys(ring)
        return value

    def workflow_tuning(self) -> WorkflowTuning:
        return WorkflowTuning(
            activity_heartbeat=timedelta(seconds=self.activity_heartbeat_timeout),
            activity_start_to_close=timedelta(seconds=self.activity_start_to_close),
            retry_maximum_interval=timedelta(seconds=self.retry_maximum_interval),
        )

    def signing_key_ring(self) -> dict[str, bytes]:
        return parse_key_ring(self.signing_keys.get_secret_value())

    def payload_key_ring(self) -> dict[str, bytes]:
        """Payload keys decoded from base64; each must be 32 bytes (AES-256)."""
        return _decode_payload_keys(parse_key_ring(self.payload_keys.get_secret_value()))


def _base64(raw: str) -> bytes:
    """The key as the services decode it (`base64.b64decode`, which skips line breaks: keys
    made with `openssl rand -base64 64` are wrapped at 64 columns), strictly otherwise."""
    try:
        decoded = base64.b64decode("".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64 (the standard alphabet, + and /)") from None
    if not decoded:
        raise ValueError("must be base64 of a non-empty key")
    return decoded


class InvalidSettings(Exception):
    """A setting is missing or malformed. The message names the variables (DSR_…) and what is
    wrong with them, never their values: they may be secrets, and this message is printed."""


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_SETTINGS_ERROR_FIELD = re.compile(r'field "([a-z0-9_]+)"')


def _variable(field: object) -> str:
    return f"DSR_{str(field).upper()}"


def describe_invalid_settings(error: ValidationError | SettingsError) -> str:
    """One line naming each bad variable and the kind of problem; values never appear."""
    if isinstance(error, SettingsError):
        match = _SETTINGS_ERROR_FIELD.search(str(error))
        name = _variable(match.group(1)) if match else "a DSR_ setting"
        return f"invalid setting {name}: not in the documented form"
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = item["loc"][0] if item["loc"] else "?"
        # pydantic's messages describe the expected form, ours too; quoted parts are dropped
        # in case a message ever echoes a fragment of the input — except a choice's, whose
        # quotes hold only the allowed values.
        message = item["msg"] if item["type"] == "literal_error" else _QUOTED.sub("…", item["msg"])
        problems.append(f"{_variable(field)}: {message}")
    return "invalid setting " + "; ".join(problems)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, or InvalidSettings with a one-line, value-free message."""
    try:
        return Settings()
    except (ValidationError, SettingsError) as error:
        raise InvalidSettings(describe_invalid_settings(error)) from None


def parse_bind(bind: str, setting: str = "bind address") -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:8400`) → (host, port), for every `*_BIND` setting. No host
    (`:9100`) means loopback: a process listens on every interface only when told so by name
    (the chart names the all-interfaces address explicitly)."""
    host, sep, port = bind.strip().rpartition(":")
    if not sep or not port.isdigit() or int(port) > MAX_PORT:  # 0: any free port
        raise ValueError(f"{setting} must be host:port with a port 0-{MAX_PORT}, not {bind!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def load_configured_policy(settings: Settings) -> Policy:
    """The policy `DSR_POLICY_FILE` names (the shipped policy/default.yaml when empty). A file
    that cannot be read or is no valid policy is InvalidSettings naming the variable, in one
    line: it reached the console as a traceback from every command that loads the policy."""
    from policy.loader import load_policy
    from policy.model import PolicyError

    try:
        return load_policy(settings.policy_file)
    except PolicyError as error:
        detail = str(error)
        if settings.policy_file is not None:
            detail = detail.replace(str(settings.policy_file), "the file")
        one_line = " ".join(detail.split())  # a YAML error spans lines
        raise InvalidSettings(f"invalid setting DSR_POLICY_FILE: {one_line}") from None


def configured_connector_classes(settings: Settings) -> dict[str, type[Connector]]:
    """The connector classes `DSR_CONNECTORS` selects (every registered one when empty). A name
    no connector is registered as is InvalidSettings naming the variable (the registry's own
    error did not say which setting held the name)."""
    from importlib.metadata import entry_points

    from connectors.base import ENTRY_POINT_GROUP, connector_classes

    registered = {entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)}
    if settings.connectors and not set(settings.connectors) <= registered:
        raise InvalidSettings(
            "invalid setting DSR_CONNECTORS: names a connector that is not registered "
            f"(registered: {', '.join(sorted(registered)) or 'none'})"
        )
    return connector_classes(settings.connectors or None)
