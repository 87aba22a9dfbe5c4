"""Database failures as typed connector errors, without personal data or secrets.

Driver messages can quote the statement's parameters or the offending row (a PostgreSQL unique
violation prints the duplicate e-mail address), and connection errors can carry the URL. So the
typed error carries only the operation, the exception class and the SQLSTATE / SQLite code, and
it is raised `from None`: the original is not chained into logs or Temporal failures.
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

# SQLSTATE classes (PostgreSQL appendix A) worth retrying: connection exception, insufficient
# resources, operator intervention (incl. 57014 statement timeout, 57P01 admin shutdown,
# 57P03 cannot connect now), transaction rollback (serialization failure, deadlock), system error.
_RETRYABLE_CLASSES = frozenset({"08", "53", "57", "40", "58"})
_AUTH_CLASSES = frozenset({"28"})  # invalid authorization: bad password, unknown role
# invalid catalog (no such database), invalid schema, syntax error or access rule violation
# (undefined table or column, insufficient privilege): the deployment does not match the system.
_CONFIG_CLASSES = frozenset({"3D", "3F", "42"})

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


def classify(exc: BaseException, operation: str) -> ConnectorError | None:
    """The typed error for a database failure, or None if `exc` is not a database failure."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, (TimeoutError, sa_exc.TimeoutError)):
        return SystemUnavailable(f"billing database timed out during {operation}")
    if isinstance(exc, OSError):  # refused, reset, unreachable host, DNS failure
        return SystemUnavailable(
            f"billing database unreachable during {operation} ({_describe(exc, None)})"
        )
    if isinstance(exc, sa_exc.DBAPIError):
        return _classify_dbapi(exc, operation)
    if isinstance(exc, (sa_exc.ArgumentError, sa_exc.NoSuchModuleError)):
        return ConfigurationError(f"billing database is misconfigured ({_describe(exc, None)})")
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return PermanentError(f"billing {operation} failed ({_describe(exc, None)})")
    return None


def _classify_dbapi(exc: sa_exc.DBAPIError, operation: str) -> ConnectorError:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        detail = _describe(orig or exc, f"SQLSTATE {sqlstate}")
        klass = sqlstate[:2]
        if klass in _AUTH_CLASSES:
            return AuthenticationError(f"billing database rejected the credentials ({detail})")
        if sqlstate == "42501":
            return ConfigurationError(f"billing database account lacks a privilege ({detail})")
        if klass in _CONFIG_CLASSES:
            return ConfigurationError(
                f"billing database does not have the expected database or schema ({detail})"
            )
        if klass in _RETRYABLE_CLASSES or exc.connection_invalidated:
            return SystemUnavailable(f"billing database unavailable during {operation} ({detail})")
        return PermanentError(f"billing database rejected {operation} ({detail})")
    if isinstance(sqlite_code, int):
        primary = sqlite_code & 0xFF
        detail = _describe(orig or exc, getattr(orig, "sqlite_errorname", None))
        if primary in _SQLITE_RETRYABLE:
            return SystemUnavailable(f"billing database unavailable during {operation} ({detail})")
        if primary in _SQLITE_AUTH:
            return AuthenticationError(f"billing database refused access ({detail})")
        message = str(orig or "")
        if primary in _SQLITE_CONFIG or message.startswith(("no such table", "no such column")):
            return ConfigurationError(
                f"billing database does not have the expected schema ({detail})"
            )
        return PermanentError(f"billing database rejected {operation} ({detail})")
    detail = _describe(orig or exc, None)
    if exc.connection_invalidated or isinstance(
        exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
    ):
        return SystemUnavailable(f"billing database unavailable during {operation} ({detail})")
    if isinstance(exc, sa_exc.ProgrammingError):
        return ConfigurationError(f"billing database does not have the expected schema ({detail})")
    return PermanentError(f"billing database rejected {operation} ({detail})")


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
