"""Connector protocol, typed errors and registry. See `_errors` for the exception hierarchy."""

from connectors.base._errors import (
    AmbiguousSubject,
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
    RateLimited,
    RetryableError,
    SystemUnavailable,
    UnsupportedOperation,
)
from connectors.base._protocol import (
    Connector,
    DataCategory,
    ExportSink,
    Operation,
    Recipient,
    RetentionRule,
)
from connectors.base._registry import (
    ENTRY_POINT_GROUP,
    ConnectorInfo,
    connector_classes,
    describe,
    task_queue_for,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "AmbiguousSubject",
    "AuthenticationError",
    "ConfigurationError",
    "Connector",
    "ConnectorError",
    "ConnectorInfo",
    "DataCategory",
    "ExportSink",
    "Operation",
    "PermanentError",
    "RateLimited",
    "Recipient",
    "RetentionRule",
    "RetryableError",
    "SystemUnavailable",
    "UnsupportedOperation",
    "connector_classes",
    "describe",
    "task_queue_for",
]
