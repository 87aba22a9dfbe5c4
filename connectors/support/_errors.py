"""The help desk's failures as typed connector errors, without personal data or secrets.

URLs carry personal data (`/users/search?query=email:…`) and response bodies echo it (a 422 names
the e-mail address already in use), so a typed error names only the operation, the endpoint's
label (e.g. "users.search") and the HTTP status or exception class, and is raised `from None`.

What a status means is the shared table (`connectors.base.http_errors`); the desk differs in
one answer only, declared here as data: its 403 means the token is valid but its agent role
lacks a permission, which is a setting to fix (ConfigurationError), not a wrong credential.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import ConfigurationError
from connectors.base.http_errors import ErrorRule

__all__ = ["STATUS_ERRORS", "SinkFailure"]

STATUS_ERRORS: Mapping[int, ErrorRule] = {
    403: ErrorRule(ConfigurationError, "the API token lacks a permission"),
}


class SinkFailure(Exception):
    """Wraps an exception raised by the caller's export sink, so it passes through untranslated."""

    def __init__(self, original: Exception) -> None:
        super().__init__("export sink failed")
        self.original = original
