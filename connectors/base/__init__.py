"""Connector protocol, typed errors and registry, and the plumbing every connector shares.

See `_errors` for the exception hierarchy. The shared modules, re-exported here (each module's
docstring says why it is shared and how a connector configures it):

- `connectors.base.http`: `HttpClient` (timeouts, retries, Retry-After, no redirects),
  `HttpSettings` (the settings every HTTP connector shares), the paging loops and
  `protect_http_logs`;
- `connectors.base.http_errors`: the one status→error table (`HttpErrors`, `ErrorRule`,
  `DEFAULT_STATUS_ERRORS`) and `parse_retry_after`;
- `connectors.base.retry`: the one retry vocabulary (`RetryPolicy`, `RetrySettings`,
  `retrying`: stamina in the call, Temporal beyond it);
- `connectors.base.matching`: identifiers normalised as the systems store them, and when two
  names are the same person's (`names_match`, `name_matches_any`);
- `connectors.base.recipients`: `tell_recipients`, Art. 19 through `notify_recipient`;
- `connectors.base._calls`: `first_asked` / `operation_first_asked`, when the operation being
  carried out was first asked for (a retried call cites only what it did itself);
- `connectors.base.sql_errors`: database failures as typed errors (`SqlErrors("system")`);
  its `classify`/`translate_errors` are imported from there by name, not re-exported here, so
  an HTTP connector cannot pick them up by mistake.
"""

from connectors.base._calls import CLOCK_MARGIN, first_asked, operation_first_asked
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
from connectors.base._settings import load_settings
from connectors.base.http import (
    HttpClient,
    HttpSettings,
    cursor_pages,
    numbered_pages,
    protect_http_logs,
)
from connectors.base.http_errors import (
    DEFAULT_STATUS_ERRORS,
    ErrorRule,
    HttpErrors,
    parse_retry_after,
)
from connectors.base.matching import (
    CUSTOMER_NUMBER,
    fold,
    name_matches_any,
    name_tokens,
    names_match,
    normalise,
    normalise_customer_number,
    normalise_email,
    normalise_organisation_number,
    normalise_personal_identity_number,
    normalise_phone,
)
from connectors.base.recipients import tell_recipients
from connectors.base.retry import RetryPolicy, RetrySettings, retrying
from connectors.base.sql_errors import (
    MYSQL_AUTH,
    MYSQL_CONFIG,
    MYSQL_RETRYABLE,
    SinkFailure,
    SqlErrors,
    mysql_code,
)

__all__ = [
    "CLOCK_MARGIN",
    "CUSTOMER_NUMBER",
    "DEFAULT_STATUS_ERRORS",
    "ENTRY_POINT_GROUP",
    "MYSQL_AUTH",
    "MYSQL_CONFIG",
    "MYSQL_RETRYABLE",
    "AmbiguousSubject",
    "AuthenticationError",
    "ConfigurationError",
    "Connector",
    "ConnectorError",
    "ConnectorInfo",
    "DataCategory",
    "ErrorRule",
    "ExportSink",
    "HttpClient",
    "HttpErrors",
    "HttpSettings",
    "Operation",
    "PermanentError",
    "RateLimited",
    "Recipient",
    "RetentionRule",
    "RetryPolicy",
    "RetrySettings",
    "RetryableError",
    "SinkFailure",
    "SqlErrors",
    "SystemUnavailable",
    "UnsupportedOperation",
    "connector_classes",
    "cursor_pages",
    "describe",
    "first_asked",
    "fold",
    "load_settings",
    "mysql_code",
    "name_matches_any",
    "name_tokens",
    "names_match",
    "normalise",
    "normalise_customer_number",
    "normalise_email",
    "normalise_organisation_number",
    "normalise_personal_identity_number",
    "normalise_phone",
    "numbered_pages",
    "operation_first_asked",
    "parse_retry_after",
    "protect_http_logs",
    "retrying",
    "task_queue_for",
    "tell_recipients",
]
