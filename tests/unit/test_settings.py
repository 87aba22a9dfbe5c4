"""Settings as an operator meets them: the documented forms work (DSR_CONNECTORS=billing,support),
a bad setting is one line naming the variable — never its value, never a traceback — from every
`dsr` command and service, and the connection-security settings reach every Kafka and Temporal
client (PLAINTEXT stays the default)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import ssl
import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from temporalio.service import TLSConfig

from orchestrator.kafka_config import aiokafka_options, faust_credentials
from orchestrator.settings import InvalidSettings, Settings, get_settings
from orchestrator.temporal_client import temporal_connection_options

DSR = str(Path(sys.executable).parent / "dsr")
SECRET = "hunter2-very-secret"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSR_")}
    return {**env, "DSR_ENV_FILE": "/nonexistent/dsr-test.env", "COLUMNS": "60", **extra}


def _run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=_clean_env(**env), capture_output=True, text=True, timeout=120, check=False
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # one line even in a 60-column terminal
    assert lines[0].startswith("error: invalid setting") and variable in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout


def _settings(**env: str) -> Settings:
    """Settings exactly as a process would load them from this environment."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(_clean_env(**env))
        get_settings.cache_clear()
        return get_settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


# ── documented forms ───────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("billing", ["billing"]),
        ("billing, support", ["billing", "support"]),
        ('["billing"]', ["billing"]),
        ("", []),
    ],
)
def test_connectors_take_the_documented_comma_separated_form(raw: str, expected: list[str]) -> None:
    assert _settings(DSR_CONNECTORS=raw).connectors == expected


def test_every_list_setting_takes_the_comma_separated_form() -> None:
    """A list setting added later without NoDecode would fail here, not in production."""
    list_fields = [
        name
        for name, field in Settings.model_fields.items()
        if typing.get_origin(field.annotation) is list
    ]
    assert "connectors" in list_fields
    for name in list_fields:
        assert getattr(_settings(**{f"DSR_{name.upper()}": "a,b"}), name) == ["a", "b"]


def test_dsr_connectors_comma_form_works_from_the_command_line() -> None:
    result = _run([DSR, "connector", "list"], DSR_CONNECTORS="billing,support", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    assert "billing" in result.stdout and "support" in result.stdout
    assert "registrar" not in result.stdout


_B64_A, _B64_B, _B64_C = (base64.b64encode(bytes([n]) * 32).decode() for n in (1, 2, 3))


def test_data_keys_without_a_master_key_are_a_setting_error() -> None:
    """`dsr shred now` with DSR_PAYLOAD_KEYS empty ended in a ValueError traceback."""
    from orchestrator.datakeys import DataKeyRing

    with pytest.raises(InvalidSettings, match=r"^invalid setting DSR_PAYLOAD_KEYS: required"):
        DataKeyRing({}, "sqlite+aiosqlite:///unused.db")


# ── one line, naming the variable, never the value ─────────────────────────────────────────
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DSR_KAFKA_SESSION_TIMEOUT", SECRET),
        ("DSR_CONNECTORS", f"[{SECRET}"),
        ("DSR_SIGNING_KEYS", SECRET),  # a secret: no id:secret pair
        ("DSR_PAYLOAD_KEYS", f"k:{SECRET}"),  # not base64 of 32 bytes
        ("DSR_TEMPORAL_TLS", SECRET),
    ],
)
def test_a_bad_setting_is_named_in_one_line_without_its_value(variable: str, value: str) -> None:
    with pytest.raises(InvalidSettings) as caught:
        _settings(**{variable: value})
    message = str(caught.value)
    assert variable in message and SECRET not in message and "\n" not in message


# Values of the right type that would quietly break the promise: dead letters expiring as they
# are written, every event "oversize", every event "in the future", a log level logging itself
# into a traceback at start.
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DSR_DLQ_RETENTION_DAYS", "0"),
        ("DSR_DLQ_RETENTION_DAYS", "-30"),
        ("DSR_MAX_EVENT_BYTES", "0"),
        ("DSR_MAX_EVENT_BYTES", "100"),
        ("DSR_CLOCK_SKEW_ALLOWANCE", "-5"),
        ("DSR_REQUESTS_PARTITIONS", "0"),
        ("DSR_KAFKA_SESSION_TIMEOUT", "0"),
        ("DSR_KAFKA_FETCH_MAX_WAIT", "-1"),
        ("DSR_ACTIVITY_START_TO_CLOSE", "0"),
        ("DSR_ACTIVITY_HEARTBEAT_TIMEOUT", "-1"),
        ("DSR_RETRY_MAXIMUM_INTERVAL", "0"),
        ("DSR_MAX_CONCURRENT_ACTIVITIES", "0"),
        ("DSR_SHUTDOWN_TIMEOUT", "0"),
        ("DSR_RECONCILE_INTERVAL", "-1"),
        ("DSR_SHRED_INTERVAL", "-1"),
        ("DSR_AUDIT_CHECKPOINT_INTERVAL", "0"),
        ("DSR_LOG_LEVEL", "LOUD"),
        ("DSR_LOG_FORMAT", "xml"),
        # The later secret replaced the earlier while keeping its place (the active key).
        ("DSR_PAYLOAD_KEYS", f"m2:{_B64_A},m1:{_B64_B},m2:{_B64_C}"),
        ("DSR_SIGNING_KEYS", "portal:one,portal:two"),
        ("DSR_PAYLOAD_KEYS", ","),  # separators, no key: reads as a ring, is none
        ("DSR_SIGNING_KEYS", " , "),
    ],
)
def test_a_value_that_would_break_a_promise_is_refused_by_name(variable: str, value: str) -> None:
    with pytest.raises(InvalidSettings) as caught:
        _settings(**{variable: value})
    message = str(caught.value)
    assert message.startswith(f"invalid setting {variable}: ") and "\n" not in message


# Values accepted at start that broke later (issue 8): a dead letter's expiry overflowing
# datetime (the intake retried its record forever), every request dead-lettered by an
# OverflowError, the shutdown watchdog's timer dying (an unbounded stop), tracebacks from
# addresses, URLs and keys read only at first use. Each is refused at start, by name.
_PAST_THE_BOUNDS = [
    ("DSR_DLQ_RETENTION_DAYS", "3000000"),
    ("DSR_DLQ_RETENTION_DAYS", "1e300"),
    ("DSR_CLOCK_SKEW_ALLOWANCE", "1e12"),
    ("DSR_SHUTDOWN_TIMEOUT", "inf"),
    ("DSR_SHUTDOWN_TIMEOUT", "1e300"),
    ("DSR_SHUTDOWN_TIMEOUT", "nan"),
    ("DSR_RECONCILE_INTERVAL", "1e300"),
    ("DSR_KAFKA_FETCH_MAX_WAIT", "inf"),
    ("DSR_KAFKA_SESSION_TIMEOUT", "1e300"),
    ("DSR_KAFKA_HEARTBEAT_INTERVAL", "inf"),
    ("DSR_KAFKA_REBALANCE_TIMEOUT", "1e300"),
    ("DSR_SHRED_INTERVAL", "inf"),
    ("DSR_AUDIT_CHECKPOINT_INTERVAL", "1e300"),
    ("DSR_ACTIVITY_HEARTBEAT_TIMEOUT", "1e300"),
    ("DSR_ACTIVITY_START_TO_CLOSE", "inf"),
    ("DSR_RETRY_MAXIMUM_INTERVAL", "1e300"),
    ("DSR_MAX_CONCURRENT_ACTIVITIES", "10000000000"),
    ("DSR_MAX_EVENT_BYTES", "99999999999999999999"),
    ("DSR_REQUESTS_PARTITIONS", "100000000"),
]
_MALFORMED = [
    ("DSR_KAFKA_BOOTSTRAP_SERVERS", "a:b:c"),
    ("DSR_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:99999"),
    ("DSR_KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,:9092"),
    ("DSR_KAFKA_BOOTSTRAP_SERVERS", ""),
    ("DSR_TEMPORAL_ADDRESS", ""),
    ("DSR_TEMPORAL_ADDRESS", ":99999"),
    ("DSR_TEMPORAL_ADDRESS", "127.0.0.1:99999"),
    ("DSR_DATABASE_URL", "nonsense"),
    ("DSR_DATABASE_URL", ""),
    ("DSR_DATABASE_URL", "mysql://dsr@db/dsr"),
    ("DSR_API_BIND", "127.0.0.1:99999"),
    ("DSR_API_BIND", "x"),
    ("DSR_CODEC_BIND", "127.0.0.1:99999"),
    ("DSR_CODEC_BIND", "x"),
    ("DSR_METRICS_BIND", "127.0.0.1:99999"),
    ("DSR_METRICS_BIND", "x"),
    ("DSR_AUDIT_SIGNING_KEY", "notbase64!!"),
    ("DSR_AUDIT_SIGNING_KEY", base64.b64encode(b"short").decode()),
    ("DSR_AUDIT_PUBLIC_KEY", "notbase64!!"),
    ("DSR_SUBJECT_HASH_KEY", "notbase64!!"),
]


@pytest.mark.parametrize(("variable", "value"), _PAST_THE_BOUNDS + _MALFORMED)
def test_a_value_that_would_break_later_is_refused_at_start_by_name(
    variable: str, value: str
) -> None:
    with pytest.raises(InvalidSettings) as caught:
        _settings(**{variable: value})
    message = str(caught.value)
    assert message.startswith(f"invalid setting {variable}: ") and "\n" not in message
    if len(value) > 3:  # never the value (a short one like "x" may occur in any word)
        assert value not in message


def test_the_upper_bounds_keep_sensible_values() -> None:
    settings = _settings(
        DSR_DLQ_RETENTION_DAYS="3650",
        DSR_CLOCK_SKEW_ALLOWANCE="86400",
        DSR_SHUTDOWN_TIMEOUT="3600",
        DSR_RECONCILE_INTERVAL="31536000",
        DSR_KAFKA_BOOTSTRAP_SERVERS=" broker-1:9092, [::1]:9093 ",
        DSR_TEMPORAL_ADDRESS="temporal.internal:7233",
        DSR_DATABASE_URL="postgresql+asyncpg://dsr@db/dsr",
        DSR_API_BIND=":8400",
        DSR_METRICS_BIND="",  # off
        DSR_AUDIT_SIGNING_KEY=_B64_A,
        DSR_SUBJECT_HASH_KEY=base64.b64encode(b"any length").decode(),
    )
    assert settings.kafka_bootstrap_servers == "broker-1:9092,[::1]:9093"
    assert (settings.dlq_retention_days, settings.metrics_bind) == (3650, "")


def test_an_empty_policy_file_means_the_shipped_policy() -> None:
    """The comment says so; the empty value became Path('.'), a directory, and a traceback."""
    from orchestrator.settings import load_configured_policy
    from policy.loader import load_policy

    settings = _settings(DSR_POLICY_FILE="")
    assert settings.policy_file is None
    assert load_configured_policy(settings) == load_policy()


def test_a_policy_file_that_cannot_be_loaded_is_named(tmp_path: Path) -> None:
    from orchestrator.settings import load_configured_policy

    broken = tmp_path / "policy.yaml"
    broken.write_text("systems: [unclosed\n  - x: {")
    for path in (tmp_path / "missing.yaml", broken):
        with pytest.raises(InvalidSettings) as caught:
            load_configured_policy(_settings(DSR_POLICY_FILE=str(path)))
        message = str(caught.value)
        assert message.startswith("invalid setting DSR_POLICY_FILE: ") and "\n" not in message
        assert str(path) not in message


def test_an_unregistered_connector_names_dsr_connectors() -> None:
    from orchestrator.settings import configured_connector_classes

    with pytest.raises(InvalidSettings, match=r"^invalid setting DSR_CONNECTORS: ") as caught:
        configured_connector_classes(_settings(DSR_CONNECTORS="billing,nosuch"))
    assert "billing" in str(caught.value)  # the registered names, to choose from
    assert list(configured_connector_classes(_settings(DSR_CONNECTORS="billing"))) == ["billing"]


def _assert_one_line_naming(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and variable in lines[0], lines
    assert "Traceback" not in result.stderr + result.stdout


# One `dsr` process per kind of failure (each costs a second or more): a bound, an address read
# only by the broker client, a URL read only by the store, a policy read only at use, the
# codec server's tokens, a connector name, and the services' own binds and keys.
@pytest.mark.parametrize(
    ("argv", "variable", "value"),
    [
        (["status", "req-0001abcd"], "DSR_DLQ_RETENTION_DAYS", "3000000"),
        (
            ["submit", "--kind", "access", "--email", "a@example.se"],
            "DSR_KAFKA_BOOTSTRAP_SERVERS",
            "a:b:c",
        ),
        (["shred", "verify", "req-0001abcd"], "DSR_TEMPORAL_ADDRESS", ":99999"),
        (["status", "req-0001abcd"], "DSR_DATABASE_URL", "nonsense"),
        (["status", "req-0001abcd"], "DSR_POLICY_FILE", "/nonexistent/policy.yaml"),
        (["codec-server"], "DSR_API_TOKENS", "garbage"),
        (["connector", "list"], "DSR_CONNECTORS", "nosuch"),
        (["worker"], "DSR_METRICS_BIND", "x"),
        (["intake"], "DSR_CLOCK_SKEW_ALLOWANCE", "1e12"),
    ],
)
def test_commands_and_services_report_these_in_one_line(
    argv: list[str], variable: str, value: str, tmp_path: Path
) -> None:
    env = {
        "DSR_SIGNING_KEYS": "portal:abc",
        "DSR_PAYLOAD_KEYS": "k:" + "A" * 43 + "=",
        "DSR_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}",
        "DSR_INTAKE_DATADIR": str(tmp_path / "intake"),
        "DSR_TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing listens: nothing may get that far
        "DSR_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "DSR_CODEC_BIND": "127.0.0.1:1",
        variable: value,
    }
    _assert_one_line_naming(_run([DSR, *argv], **env), variable)


def test_the_bounds_keep_what_the_documentation_allows() -> None:
    settings = _settings(
        DSR_LOG_LEVEL="debug",  # any case
        DSR_RECONCILE_INTERVAL="0",  # no schedule: `dsr reconcile` by hand
        DSR_SHRED_INTERVAL="0",  # `dsr shred sweep` by hand
        DSR_CLOCK_SKEW_ALLOWANCE="0",
        DSR_DLQ_RETENTION_DAYS="0.5",
    )
    assert (settings.log_level, settings.reconcile_interval, settings.shred_interval) == (
        "DEBUG",
        0,
        0,
    )


def test_deployed_forms_that_worked_before_still_do() -> None:
    """A wrapped base64 key (`openssl rand -base64 64` breaks lines at 64 columns) decodes as
    the services decode it, and a broker named without its port is Kafka's default port."""
    key = base64.b64encode(bytes(range(64))).decode()
    wrapped = f"{key[:64]}\n{key[64:]}\n"
    settings = _settings(
        DSR_SUBJECT_HASH_KEY=wrapped, DSR_KAFKA_BOOTSTRAP_SERVERS="kafka,[::1],b:9092"
    )
    assert settings.kafka_bootstrap_servers == "kafka,[::1],b:9092"
    assert base64.b64decode(settings.subject_hash_key.get_secret_value()) == bytes(range(64))


def test_dsr_commands_report_a_bad_setting_in_one_line() -> None:
    _assert_one_line_error(
        _run(
            [DSR, "submit", "--kind", "access", "--email", "a@example.se"], DSR_SIGNING_KEYS=SECRET
        ),
        "DSR_SIGNING_KEYS",
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["approve", "req-0001abcd", "--actor", "dpo@example.se"], "Temporal is unreachable"),
        (["shred", "verify", "req-0001abcd"], "Temporal is unreachable"),
        (["submit", "--kind", "access", "--email", "a@example.se"], "Kafka is unreachable"),
        (["dlq", "list"], "Kafka is unreachable"),
    ],
)
def test_a_server_that_is_down_is_one_line_not_a_traceback(
    argv: list[str], expected: str, tmp_path: Path
) -> None:
    """A DPO's command with Temporal or the broker down (nothing listens on port 1 here)."""
    result = _run(
        [DSR, *argv],
        DSR_TEMPORAL_ADDRESS="127.0.0.1:1",
        DSR_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1",
        DSR_SIGNING_KEYS="portal:abc",
        DSR_PAYLOAD_KEYS="k:" + "A" * 43 + "=",
        DSR_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'dsr.db'}",
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith(f"error: {expected} at 127.0.0.1:1"), lines
    assert "Traceback" not in result.stderr + result.stdout


# Each run starts a whole `dsr` process (seconds on a loaded machine): one per kind of
# failure — a settings value, and connection security checked before anything connects.
@pytest.mark.parametrize(
    ("service", "variable", "value"),
    [
        ("worker", "DSR_CONNECTORS", f"[{SECRET}"),
        ("intake", "DSR_KAFKA_SECURITY_PROTOCOL", SECRET),
    ],
)
def test_services_report_a_bad_setting_in_one_line(service: str, variable: str, value: str) -> None:
    result = _run(
        [sys.executable, "-m", "orchestrator.cli", service],
        **{
            "DSR_SIGNING_KEYS": "portal:abc",
            "DSR_PAYLOAD_KEYS": "k:" + "A" * 43 + "=",
            "DSR_INTAKE_DATADIR": "/nonexistent/intake",
            variable: value,
        },
    )
    _assert_one_line_error(result, variable)


# ── connection security ────────────────────────────────────────────────────────────────────
@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    san: str | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A private CA, a server certificate for 'localhost' and a client certificate."""
    root = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("dsr test CA", ca_key, None, ca_key, ca=True)
    files: dict[str, bytes] = {"ca.pem": ca.public_bytes(serialization.Encoding.PEM)}
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(f"dsr {role}", key, ca.subject, ca_key, san="localhost")
        files[f"{role}.pem"] = cert.public_bytes(serialization.Encoding.PEM)
        files[f"{role}.key"] = _key_pem(key)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return Pki(
        root / "ca.pem",
        root / "server.pem",
        root / "server.key",
        root / "client.pem",
        root / "client.key",
    )


def test_plaintext_is_the_default_everywhere() -> None:
    settings = _settings()
    assert aiokafka_options(settings) == {
        "bootstrap_servers": "localhost:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(settings) is None
    assert temporal_connection_options(settings) == {"tls": False, "api_key": None}


async def _handshake(client: ssl.SSLContext, pki: Pki) -> bytes:
    """A real TLS handshake against a server that demands a client certificate from our CA:
    what the server said, b"" if it refused us (TLS 1.3 reports that only on first read)."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.ca)
    server_context.load_cert_chain(pki.server_cert, pki.server_key)
    server_context.verify_mode = ssl.CERT_REQUIRED

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"ok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client, server_hostname="localhost"
            )
            said = await reader.read()
            writer.close()
            return said
        except (ssl.SSLError, ConnectionError):
            return b""
    finally:
        server.close()
        await server.wait_closed()


async def test_kafka_mutual_tls_context_is_built_from_the_files(pki: Pki) -> None:
    settings = _settings(
        DSR_KAFKA_BOOTSTRAP_SERVERS="broker-1:9093,broker-2:9093",
        DSR_KAFKA_SECURITY_PROTOCOL="SSL",
        DSR_KAFKA_SSL_CAFILE=str(pki.ca),
        DSR_KAFKA_SSL_CERTFILE=str(pki.client_cert),
        DSR_KAFKA_SSL_KEYFILE=str(pki.client_key),
    )
    options = aiokafka_options(settings)
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert await _handshake(context, pki) == b"ok"  # our CA trusted, our certificate presented

    credentials = faust_credentials(settings)
    faust_options = credentials_to_aiokafka_auth(credentials)
    assert faust_options["security_protocol"] == "SSL"
    assert await _handshake(faust_options["ssl_context"], pki) == b"ok"


async def test_a_context_without_the_client_certificate_is_refused(pki: Pki) -> None:
    settings = _settings(DSR_KAFKA_SECURITY_PROTOCOL="SSL", DSR_KAFKA_SSL_CAFILE=str(pki.ca))
    assert await _handshake(aiokafka_options(settings)["ssl_context"], pki) == b""


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_kafka_sasl_over_tls(pki: Pki, mechanism: str) -> None:
    settings = _settings(
        DSR_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        DSR_KAFKA_SASL_MECHANISM=mechanism,
        DSR_KAFKA_SASL_USERNAME="dsr-orchestrator",
        DSR_KAFKA_SASL_PASSWORD=SECRET,
        DSR_KAFKA_SSL_CAFILE=str(pki.ca),
    )
    options = aiokafka_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "dsr-orchestrator"
    assert options["sasl_plain_password"] == SECRET
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    # faust is handed the same thing: it maps its credentials back to these aiokafka options.
    from_faust = credentials_to_aiokafka_auth(faust_credentials(settings))
    for key in (
        "security_protocol",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
    ):
        assert from_faust[key] == options[key]
    assert SECRET not in repr(faust_credentials(settings))


def test_sasl_without_tls_has_no_ssl_context() -> None:
    settings = _settings(
        DSR_KAFKA_SECURITY_PROTOCOL="sasl_plaintext",
        DSR_KAFKA_SASL_USERNAME="dsr",
        DSR_KAFKA_SASL_PASSWORD=SECRET,
    )
    options = aiokafka_options(settings)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "PLAIN"  # the default mechanism
    assert "ssl_context" not in options
    assert credentials_to_aiokafka_auth(faust_credentials(settings))["ssl_context"] is None


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DSR_KAFKA_SECURITY_PROTOCOL": "TLS"}, "DSR_KAFKA_SECURITY_PROTOCOL"),
        ({"DSR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "DSR_KAFKA_SASL_USERNAME"),
        (
            {
                "DSR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "DSR_KAFKA_SASL_USERNAME": "u",
                "DSR_KAFKA_SASL_PASSWORD": SECRET,
                "DSR_KAFKA_SASL_MECHANISM": "GSSAPI",
            },
            "DSR_KAFKA_SASL_MECHANISM",
        ),
        (
            {"DSR_KAFKA_SECURITY_PROTOCOL": "SSL", "DSR_KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
            "DSR_KAFKA_SSL_CAFILE",
        ),
    ],
)
def test_kafka_security_that_cannot_work_is_refused_by_name(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(InvalidSettings, match=variable) as caught:
        aiokafka_options(_settings(**env))
    assert SECRET not in str(caught.value)


async def test_every_orchestrator_kafka_client_uses_the_security_settings(pki: Pki) -> None:
    from orchestrator.intake.app import create_app
    from orchestrator.status_publisher import KafkaStatusPublisher

    settings = _settings(
        DSR_KAFKA_SECURITY_PROTOCOL="SSL",
        DSR_KAFKA_SSL_CAFILE=str(pki.ca),
        DSR_PAYLOAD_KEYS="k:" + "A" * 43 + "=",
    )
    publisher = KafkaStatusPublisher(settings)
    assert publisher._producer.client._security_protocol == "SSL"
    app = create_app(settings)
    assert credentials_to_aiokafka_auth(app.conf.broker_credentials)["security_protocol"] == "SSL"


def test_temporal_mutual_tls_and_api_key(pki: Pki) -> None:
    settings = _settings(
        DSR_TEMPORAL_TLS="true",
        DSR_TEMPORAL_TLS_CA_FILE=str(pki.ca),
        DSR_TEMPORAL_TLS_CERT_FILE=str(pki.client_cert),
        DSR_TEMPORAL_TLS_KEY_FILE=str(pki.client_key),
        DSR_TEMPORAL_TLS_SERVER_NAME="temporal.internal",
        DSR_TEMPORAL_API_KEY=SECRET,
    )
    options = temporal_connection_options(settings)
    assert options["tls"] == TLSConfig(
        server_root_ca_cert=pki.ca.read_bytes(),
        client_cert=pki.client_cert.read_bytes(),
        client_private_key=pki.client_key.read_bytes(),
        domain="temporal.internal",
    )
    assert options["api_key"] == SECRET


def test_temporal_api_key_alone_lets_the_sdk_turn_tls_on() -> None:
    options = temporal_connection_options(_settings(DSR_TEMPORAL_API_KEY=SECRET))
    assert options == {"tls": None, "api_key": SECRET}
    system_cas = temporal_connection_options(_settings(DSR_TEMPORAL_TLS="1"))
    assert system_cas["tls"] == TLSConfig()


def test_temporal_client_certificate_needs_its_key(pki: Pki) -> None:
    with pytest.raises(InvalidSettings, match="DSR_TEMPORAL_TLS_CERT_FILE"):
        temporal_connection_options(_settings(DSR_TEMPORAL_TLS_CERT_FILE=str(pki.client_cert)))


@pytest.fixture(autouse=True)
def _no_cached_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_dsr_up_ports_come_from_options_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from devstack.up import LOCAL_PORTS, local_ports, parse_port_overrides

    assert local_ports() == LOCAL_PORTS  # the documented defaults
    monkeypatch.setenv("DSR_UP_PORTS", "kafka=19092,temporal=17233")
    assert local_ports({"temporal": 27233}) == {
        **LOCAL_PORTS,
        "kafka": 19092,
        "temporal": 27233,  # an explicit --port wins over the environment
    }
    with pytest.raises(ValueError, match="kafka"):
        parse_port_overrides(["kafka=notaport"])
    with pytest.raises(ValueError, match="NAME=PORT"):
        parse_port_overrides(["nosuchservice=1"])


@pytest.mark.parametrize(
    "argv",
    [
        [DSR, "list"],
        [DSR, "status", "req-0001abcd"],
        [sys.executable, "-m", "orchestrator.store", "revision"],
    ],
)
def test_a_store_that_is_down_is_one_line_not_a_traceback(argv: list[str]) -> None:
    """asyncpg raises the socket's own error (not a DBAPIError): it reached the console as a
    160-line traceback. One line, naming the address only (never the URL's password)."""
    result = _run(
        argv,
        DSR_DATABASE_URL=f"postgresql+asyncpg://dsr:{SECRET}@127.0.0.1:1/dsr",
        DSR_SIGNING_KEYS="portal:abc",
        DSR_PAYLOAD_KEYS="k:" + "A" * 43 + "=",
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: cannot connect"), lines
    assert "127.0.0.1', 1" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert SECRET not in result.stderr + result.stdout
