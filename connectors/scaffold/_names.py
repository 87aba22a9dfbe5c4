"""Connector names: what `dsr connector new NAME` accepts, and the names derived from one.

The name becomes a Python package (`connectors.<name>`), an entry-point name, a task queue
(`dsr-connector-<name>`), an environment prefix (`DSR_<NAME>_`) and a class name, so it is held
to the narrowest form all of them accept. A bad name is refused before anything is written.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

__all__ = ["NAME_PATTERN", "RESERVED_NAMES", "ConnectorNames", "ScaffoldError", "connector_names"]

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,30}$")

# Packages under connectors/ that are not connectors: a connector of that name would replace them.
RESERVED_NAMES = frozenset({"base", "testing", "scaffold"})


class ScaffoldError(ValueError):
    """The connector cannot be scaffolded; the message says why and what to do instead."""


@dataclass(frozen=True)
class ConnectorNames:
    """Every spelling of one connector's name that the generated files use."""

    name: str  # example_crm: package, entry point, task queue, log name
    class_prefix: str  # ExampleCrm: ExampleCrmConnector, ExampleCrmSettings
    env_prefix: str  # DSR_EXAMPLE_CRM_

    @property
    def connector_class(self) -> str:
        return f"{self.class_prefix}Connector"

    @property
    def settings_class(self) -> str:
        return f"{self.class_prefix}Settings"

    @property
    def entry_point(self) -> str:
        """The line for `[project.entry-points."dsr.connectors"]` in pyproject.toml."""
        return f'{self.name} = "connectors.{self.name}:{self.connector_class}"'


def connector_names(name: str) -> ConnectorNames:
    """The derived names, once `name` is known to be an acceptable connector name."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid connector name {name!r}: use 2 to 31 characters, lower-case letters, digits "
            "and underscores, starting with a letter (e.g. 'registrar', 'support_desk')"
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(
            f"invalid connector name {name!r}: it is a Python keyword, and `connectors.{name}` "
            "could not be imported"
        )
    if name in RESERVED_NAMES:
        raise ScaffoldError(
            f"invalid connector name {name!r}: connectors/{name}/ is part of the connector "
            f"framework (reserved: {', '.join(sorted(RESERVED_NAMES))})"
        )
    prefix = "".join(part.capitalize() for part in name.split("_") if part)
    return ConnectorNames(name=name, class_prefix=prefix, env_prefix=f"DSR_{name.upper()}_")
