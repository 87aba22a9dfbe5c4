"""Database failures as typed connector errors, without personal data or secrets.

Why this is shared: every connector that reads a database through SQLAlchemy must decide which
driver failures are worth a retry, which mean the deployment is wrong, and which are final, and
must do it without leaking what the driver puts into its messages. Written per connector, the
same rules were copied with only the system's name changed; here they are once, for PostgreSQL
(SQLSTATE), MariaDB / MySQL (error numbers, via pymysql) and SQLite (result codes), and a
connector binds them to its system's name for the messages: `SqlErrors("billing")`.

Driver messages can quote a statement's parameters or the offending row (a unique violation
prints the duplicate e-mail address), and connection errors carry the URL, host and user. So a
typed error carries only the system, the operation, the exception class and the SQLSTATE, error
number or SQLite code, and it is raised `from None`: the original is not chained into logs or
Temporal failures.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

from connectors.base._errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    PermanentError,
    SystemUnavailable,
)

__all__ = [
    "MYSQL_AUTH",
    "MYSQL_CONFIG",
    "MYSQL_RETRYABLE",
    "SinkFailure",
    "SqlErrors",
    "classify",
    "mysql_code",
    "translate_errors",
]

# SQLSTATE classes (PostgreSQL appendix A) worth retrying: connection exception, insufficient
# resources, operator intervention (incl. 57014 statement timeout, 57P01 admin shutdown,
# 57P03 cannot connect now), transaction rollback (serialization failure, deadlock), system error.
_RETRYABLE_CLASSES = frozenset({"08", "53", "57", "40", "58"})
_AUTH_CLASSES = frozenset({"28"})  # invalid authorization: bad password, unknown role
# invalid catalog (no such database), invalid schema, syntax error or access rule violation
# (undefined table or column, insufficient privilege): the deployment does not match the system.
_CONFIG_CLASSES = frozenset({"3D", "3F", "42"})

# MariaDB / MySQL error numbers.
MYSQL_AUTH = frozenset(
    {
        1045,  # access denied (wrong password, unknown user)
        1698,  # access denied (authentication plugin refused)
        1251,  # client does not support the authentication protocol
        2059,  # authentication plugin cannot be loaded
    }
)
MYSQL_CONFIG = frozenset(
    {
        1044,  # the user may not use this database
        1049,  # unknown database
        1054,  # unknown column
        1142,  # command denied on a table
        1143,  # column access denied
        1146,  # table does not exist
    }
)
MYSQL_RETRYABLE = frozenset(
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


def mysql_code(orig: BaseException | None) -> int | None:
    """The MariaDB / MySQL error number of a pymysql error (it carries (errno, message); only the
    number is used), or None for any other driver's error."""
    if orig is None or not orig.args:
        return None
    if not any(klass.__module__.split(".")[0] == "pymysql" for klass in type(orig).__mro__):
        return None
    code = orig.args[0]
    return code if isinstance(code, int) else None


def classify(exc: BaseException, operation: str, *, system: str) -> ConnectorError | None:
    """The typed error for a database failure of `system` (the connector's name, for the
    message), or None if `exc` is not a database failure."""
    if isinstance(exc, ConnectorError):
        return exc
    if isinstance(exc, (TimeoutError, sa_exc.TimeoutError)):
        return SystemUnavailable(f"{system} database timed out during {operation}")
    if isinstance(exc, OSError):  # refused, reset, unreachable host, DNS failure
        return SystemUnavailable(
            f"{system} database unreachable during {operation} ({_describe(exc, None)})"
        )
    if isinstance(exc, sa_exc.DBAPIError):
        return _classify_dbapi(exc, operation, system)
    if isinstance(exc, (sa_exc.ArgumentError, sa_exc.NoSuchModuleError)):
        return ConfigurationError(f"{system} database is misconfigured ({_describe(exc, None)})")
    if isinstance(exc, sa_exc.SQLAlchemyError):
        return PermanentError(f"{system} {operation} failed ({_describe(exc, None)})")
    return None


def _classify_dbapi(exc: sa_exc.DBAPIError, operation: str, system: str) -> ConnectorError:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:  # PostgreSQL
        detail = _describe(orig or exc, f"SQLSTATE {sqlstate}")
        if sqlstate == "42501":
            return ConfigurationError(f"{system} database account lacks a privilege ({detail})")
        klass = sqlstate[:2]
        return _server_error(
            exc,
            operation,
            system,
            detail,
            auth=klass in _AUTH_CLASSES,
            missing="database or schema" if klass in _CONFIG_CLASSES else None,
            retryable=klass in _RETRYABLE_CLASSES,
        )
    code = mysql_code(orig)
    if code is not None:  # MariaDB / MySQL
        return _server_error(
            exc,
            operation,
            system,
            _describe(orig or exc, f"error {code}"),
            auth=code in MYSQL_AUTH,
            missing="database, schema or grants" if code in MYSQL_CONFIG else None,
            retryable=code in MYSQL_RETRYABLE,
        )
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return _classify_sqlite(exc, sqlite_code, operation, system)
    detail = _describe(orig or exc, None)
    if exc.connection_invalidated or isinstance(
        exc, (sa_exc.OperationalError, sa_exc.InterfaceError)
    ):
        return SystemUnavailable(f"{system} database unavailable during {operation} ({detail})")
    if isinstance(exc, sa_exc.ProgrammingError):
        return ConfigurationError(f"{system} database does not have the expected schema ({detail})")
    return PermanentError(f"{system} database rejected {operation} ({detail})")


def _server_error(
    exc: sa_exc.DBAPIError,
    operation: str,
    system: str,
    detail: str,
    *,
    auth: bool,
    missing: str | None,
    retryable: bool,
) -> ConnectorError:
    """The typed error for a database server's code, once the dialect has sorted it: PostgreSQL
    and MariaDB answer alike. `missing` names what the deployment lacks, if that is the cause."""
    if auth:
        return AuthenticationError(f"{system} database rejected the credentials ({detail})")
    if missing is not None:
        return ConfigurationError(
            f"{system} database does not have the expected {missing} ({detail})"
        )
    if retryable or exc.connection_invalidated:
        return SystemUnavailable(f"{system} database unavailable during {operation} ({detail})")
    return PermanentError(f"{system} database rejected {operation} ({detail})")


def _classify_sqlite(
    exc: sa_exc.DBAPIError, sqlite_code: int, operation: str, system: str
) -> ConnectorError:
    orig = exc.orig
    primary = sqlite_code & 0xFF
    detail = _describe(orig or exc, getattr(orig, "sqlite_errorname", None))
    if primary in _SQLITE_RETRYABLE:
        return SystemUnavailable(f"{system} database unavailable during {operation} ({detail})")
    if primary in _SQLITE_AUTH:
        return AuthenticationError(f"{system} database refused access ({detail})")
    message = str(orig or "")
    if primary in _SQLITE_CONFIG or message.startswith(("no such table", "no such column")):
        return ConfigurationError(f"{system} database does not have the expected schema ({detail})")
    return PermanentError(f"{system} database rejected {operation} ({detail})")


@contextmanager
def translate_errors(operation: str, *, system: str) -> Iterator[None]:
    """Turn database failures inside the block into typed connector errors naming `system`."""
    try:
        yield
    except SinkFailure as failure:  # the caller's own error: re-raise it as it was
        raise failure.original from failure.original.__cause__
    except ConnectorError:
        raise
    except Exception as exc:
        error = classify(exc, operation, system=system)
        if error is None:
            raise
        raise error from None


@dataclass(frozen=True)
class SqlErrors:
    """`classify` and `translate_errors` bound to one system's name, so that a connector's error
    module is `classify = SqlErrors("billing").classify` rather than a copy of this one."""

    system: str

    def classify(self, exc: BaseException, operation: str) -> ConnectorError | None:
        """The typed error for a database failure, or None if `exc` is not a database failure."""
        return classify(exc, operation, system=self.system)

    @contextmanager
    def translate_errors(self, operation: str) -> Iterator[None]:
        """Turn database failures inside the block into typed connector errors."""
        with translate_errors(operation, system=self.system):
            yield
