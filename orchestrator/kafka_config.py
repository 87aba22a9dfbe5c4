"""How every Kafka client of the orchestrator connects: one place turns the DSR_KAFKA_* settings
into aiokafka keyword arguments and faust broker credentials, so the intake, the status
publisher, `dsr submit` and anything added later speak to a production cluster (TLS, SASL) the
same way. PLAINTEXT — the local stack and the tests — stays the default.

    AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    faust.App(..., broker_credentials=faust_credentials(settings))

A setting that cannot work (an unknown protocol, SASL without a username, a certificate file
that does not exist) raises InvalidSettings naming the variable, never its value, when the
client is built — before any connection attempt.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import BaseModel, ConfigDict, SecretStr

from orchestrator.settings import InvalidSettings, Settings

__all__ = [
    "REQUESTS_ISOLATION_LEVEL",
    "KafkaSecurity",
    "aiokafka_options",
    "faust_credentials",
    "kafka_security",
]

# How every reader of the requests topic reads it (the intake, the reconciler): records of
# committed transactions, or of none, only. aiokafka and faust read uncommitted records unless
# told otherwise (faust only under exactly-once, which tansu, the local broker, cannot run), so
# a transactional portal's aborted event would start a request that never happened, and the
# reconciler would re-drive it.
REQUESTS_ISOLATION_LEVEL = "read_committed"

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
_PROTOCOLS: tuple[Protocol, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS: tuple[Mechanism, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaSecurity(BaseModel):
    """The checked connection security of one deployment (no context built yet)."""

    model_config = ConfigDict(frozen=True)

    protocol: Protocol = "PLAINTEXT"
    mechanism: Mechanism | None = None
    username: str | None = None
    password: SecretStr | None = None
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext:
        """Verifying context: the cluster's CA (or the system's), and a client certificate for
        mutual TLS when one is given."""
        context: ssl.SSLContext = create_ssl_context(
            cafile=self.cafile, certfile=self.certfile, keyfile=self.keyfile
        )
        return context


def _invalid(variable: str, problem: str) -> InvalidSettings:
    return InvalidSettings(f"invalid setting {variable}: {problem}")


def kafka_security(settings: Settings) -> KafkaSecurity:
    """Check the DSR_KAFKA_SECURITY_* / _SASL_* / _SSL_* settings as a whole."""
    protocol = settings.kafka_security_protocol.strip().upper()
    if protocol not in _PROTOCOLS:
        raise _invalid("DSR_KAFKA_SECURITY_PROTOCOL", f"one of {', '.join(_PROTOCOLS)}")
    mechanism = (settings.kafka_sasl_mechanism or "").strip().upper() or None
    if protocol.startswith("SASL"):
        mechanism = mechanism or "PLAIN"
        if mechanism not in _MECHANISMS:
            raise _invalid("DSR_KAFKA_SASL_MECHANISM", f"one of {', '.join(_MECHANISMS)}")
        if not settings.kafka_sasl_username:
            raise _invalid("DSR_KAFKA_SASL_USERNAME", f"required with {protocol}")
        if settings.kafka_sasl_password is None:
            raise _invalid("DSR_KAFKA_SASL_PASSWORD", f"required with {protocol}")
    files = {
        "DSR_KAFKA_SSL_CAFILE": settings.kafka_ssl_cafile,
        "DSR_KAFKA_SSL_CERTFILE": settings.kafka_ssl_certfile,
        "DSR_KAFKA_SSL_KEYFILE": settings.kafka_ssl_keyfile,
    }
    if protocol in ("SSL", "SASL_SSL"):
        for variable, path in files.items():
            if path is not None and not path.is_file():
                raise _invalid(variable, "no such file")
        if (settings.kafka_ssl_keyfile is None) != (settings.kafka_ssl_certfile is None):
            raise _invalid("DSR_KAFKA_SSL_CERTFILE", "client certificate and key go together")
    return KafkaSecurity(
        protocol=protocol,  # checked against _PROTOCOLS above; pydantic checks again
        mechanism=mechanism if protocol.startswith("SASL") else None,
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
    )


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """`bootstrap_servers` and the security keyword arguments of AIOKafkaProducer/Consumer and
    AIOKafkaAdminClient."""
    security = kafka_security(settings)
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": security.protocol,
    }
    if security.uses_tls:
        options["ssl_context"] = security.ssl_context()
    if security.uses_sasl:
        assert security.password is not None  # checked by kafka_security
        options |= {
            "sasl_mechanism": security.mechanism,
            "sasl_plain_username": security.username,
            "sasl_plain_password": security.password.get_secret_value(),
        }
    return options


def faust_credentials(settings: Settings) -> Any:
    """faust's `broker_credentials` for the same security (None for PLAINTEXT). faust turns
    them back into exactly the aiokafka options above."""
    import faust

    security = kafka_security(settings)
    if security.uses_sasl:
        assert security.password is not None  # checked by kafka_security
        return faust.SASLCredentials(
            username=security.username,
            password=security.password.get_secret_value(),
            mechanism=security.mechanism,
            ssl_context=security.ssl_context() if security.uses_tls else None,
        )
    if security.uses_tls:
        return faust.SSLCredentials(security.ssl_context())
    return None
