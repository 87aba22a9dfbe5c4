"""Database failures as typed connector errors naming hosting, without personal data or secrets.

The classification (MariaDB error numbers, SQLite codes) is the shared one in
`connectors.base.sql_errors`; this module only binds it to the system's name. Filesystem failures
are translated where they happen (`_homes`), for the same reason the database's are: an OSError
prints the path, and the path holds the account's username.
"""

from __future__ import annotations

from connectors.base.sql_errors import SinkFailure, SqlErrors

__all__ = ["SinkFailure", "classify", "translate_errors"]

_ERRORS = SqlErrors("hosting")
classify = _ERRORS.classify
translate_errors = _ERRORS.translate_errors
