"""`dsr connector new NAME`: scaffold a connector that follows the standard.

    from connectors.scaffold import scaffold_connector

    written = scaffold_connector("support_desk", Path("."))
    written.entry_point  # 'support_desk = "connectors.support_desk:SupportDeskConnector"'

Writes `connectors/<name>/` (an HTTP connector: settings, typed errors, a client with timeouts,
retries and pagination, and the connector class with a TODO in every operation),
`tests/connectors/test_<name>.py` (the contract suite and its fixtures) and
`docs/connectors/<name>.md`. The guide to finishing it is docs/connectors.md.
"""

from connectors.scaffold._generate import (
    ScaffoldResult,
    entry_point_line,
    next_steps,
    scaffold_connector,
)
from connectors.scaffold._names import NAME_PATTERN, RESERVED_NAMES, ScaffoldError, connector_names

__all__ = [
    "NAME_PATTERN",
    "RESERVED_NAMES",
    "ScaffoldError",
    "ScaffoldResult",
    "connector_names",
    "entry_point_line",
    "next_steps",
    "scaffold_connector",
]
