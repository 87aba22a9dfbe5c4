"""Database failures as typed connector errors, without personal data or secrets.

Driver messages can quote a statement's parameters or the offending row (a MariaDB duplicate-key
error prints the duplicate e-mail address), and connection errors carry the host and user. So a
typed error carries only the operation, the exception class and the MariaDB error number or
SQLite code, and it is raised `from None`: the original is not chained into logs or Temporal
failures. Filesystem failures are translated where they happen (`_homes`), for the same reason:
an OSError prints the path, and the path holds the account's username.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from connectors.base import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
    SystemUnavailable,
)

__all__ = ["SinkFailure", "classify", "translate_errors"]

# MariaDB / MySQL error numbers.
_MYSQL_AUTH = frozenset(
    {
        1045,  # access denied (wrong password, unknown user)
        1698,  # access denied (authentication plugin refused)
        1251,  # client does not support the authentication protocol
        2059,  # authentication plugin cannot be loaded
    }
)
_MYSQL_CONFIG = frozenset(
    {
        1044,  # the user may not use this database
        1049,  # unknown database
        1054,  # unknown column
        1142,  # command denied on a table
        1143,  # column access denied
        1146,  # table does not exist
    }
)
_MYSQL_RETRYABLE = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1205,  # lock wait timeout
        1213,  # deadlock: the transaction was rolled back
        1290,  # server runs --read-only (a failover in progress)
        1317,  # query interrupted
        1927,  # connection was killed
        1969,  # MariaDB max_statement_time exceeded
        3024,  # MySQL max_execution_time exceeded
        2002,  # cannot connect through the socket
        2003,  # cannot connect to the server
        2005,  # unknown host (DNS)
        2006,  # server has gone away
        2013,  # lost connection during a query
        2055,  # lost connection (system error)
    }
)

# SQLite primary result codes.
_SQLITE_RETRYABLE = frozenset({5, 6, 10, 13, 14, 15})  # BUSY LOCKED IOERR FULL CANTOPEN PROTOCOL
_SQLITE_CONFIG = frozenset({8, 11, 26})  # READONLY CORRUPT NOTADB
_SQLITE_AUTH = frozenset({23})


class SinkFailure(Exception):
    """Wraps an exception raised by the caller's export sink, so it passes through untranslated."""

    def __init__(self, original: Exception) -> None:
        super().__init__("export sink failed")
        self.original = original


def _describe(exc: BaseException, code: str | None) -> str:
    name = type(exc).__name__
    return f"{name}, {code}" if code else name


def _mysql_code(orig: BaseException | None) -> int | None:
    """pymysql errors carry (errno, message); only the number is used."""
    if orig is None or not orig.args:
        return None
    if not any(klass.__module__.split(".")[0] == "pymysql" for klass in type(orig).__mro__):
        return None
    code = orig.args[0]
    return code if isinstance(code, int) else None


def classify(exc: BaseException, operation: str) -> ConnectorError | None:
    """The typed error for a database failure, or None if `exc` is not a database failure."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, (TimeoutError, sa_exc.TimeoutError)):
        return SystemUnavailable(f"hosting database timed out during {operation}")
    if isinstance(exc, OSError):  # refused, reset, unreachable host, DNS failure
        return SystemUnavailable(
            f"hosting database unreachable during {operation} ({_describe(exc, None)})"
        )
    if isinstance(exc, sa_exc.DBAPIError):
        return _classify_dbapi(exc, operation)
    if isinstance(exc, (sa_exc.ArgumentError, sa_exc.NoSuchModuleError)):
        return ConfigurationError(f"hosting database is misconfigured ({_describe(exc, None)})")
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return PermanentError(f"hosting {operation} failed ({_describe(exc, None)})")
    return None


def _classify_dbapi(exc: sa_exc.DBAPIError, operation: str) -> ConnectorError:
    orig = exc.orig
    mysql_code = _mysql_code(orig)
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if mysql_code is not None:
        detail = _describe(orig or exc, f"error {mysql_code}")
        if mysql_code in _MYSQL_AUTH:
            return AuthenticationError(f"hosting database rejected the credentials ({detail})")
        if mysql_code in _MYSQL_CONFIG:
            return ConfigurationError(
                f"hosting database does not have the expected database, schema or grants ({detail})"
            )
        if mysql_code in _MYSQL_RETRYABLE or exc.connection_invalidated:
            return SystemUnavailable(f"hosting database unavailable during {operation} ({detail})")
        return PermanentError(f"hosting database rejected {operation} ({detail})")
    if isinstance(sqlite_code, int):
        primary = sqlite_code & 0xFF
        detail = _describe(orig or exc, getattr(orig, "sqlite_errorname", None))
        if primary in _SQLITE_RETRYABLE:
            return SystemUnavailable(f"hosting database unavailable during {operation} ({detail})")
        if primary in _SQLITE_AUTH:
            return AuthenticationError(f"hosting database refused access ({detail})")
        message = str(orig or "")
        if primary in _SQLITE_CONFIG or message.startswith(("no such table", "no such column")):
            return ConfigurationError(
                f"hosting database does not have the expected schema ({detail})"
            )
        return PermanentError(f"hosting database rejected {operation} ({detail})")
    detail = _describe(orig or exc, None)
    if exc.connection_invalidated or isinstance(
        exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
    ):
        return SystemUnavailable(f"hosting database unavailable during {operation} ({detail})")
    if isinstance(exc, sa_exc.ProgrammingError):
        return ConfigurationError(f"hosting database does not have the expected schema ({detail})")
    return PermanentError(f"hosting database rejected {operation} ({detail})")


@contextmanager
def translate_errors(operation: str) -> Iterator[None]:
    """Turn database failures inside the block into typed connector errors."""
    try:
        yield
    except SinkFailure as failure:  # the caller's own error: re-raise it as it was
        raise failure.original from failure.original.__cause__
    except ConnectorError:
        raise
    except Exception as exc:
        error = classify(exc, operation)
        if error is None:
            raise
        raise error from None
