"""Database failures as typed connector errors naming billing, without personal data or secrets.

The classification (SQLSTATE classes, SQLite codes) is the shared one in
`connectors.base.sql_errors`; this module only binds it to the system's name.
"""

from __future__ import annotations

from connectors.base.sql_errors import SinkFailure, SqlErrors

__all__ = ["SinkFailure", "classify", "translate_errors"]

_ERRORS = SqlErrors("billing")
classify = _ERRORS.classify
translate_errors = _ERRORS.translate_errors
