"""listmonk's `query` parameter, the safe subset: equality conditions joined with AND.

listmonk pastes `query` into its SQL as a WHERE expression. The sandbox parses instead and builds
the expression with SQLAlchemy, so a query can never be anything but a lookup, and the lookups a
DSR needs use the same expressions as the indexes:

    subscribers.email = 'anna@example.se'
    subscribers.attribs->>'customer_number' = 'K100001'
    subscribers.id = 42 AND subscribers.status = 'enabled'

Fields: email, name, uuid, status, id, and attribs->>'key'. Strings are single-quoted ('' is a
quote). E-mail addresses are compared lower-cased, as stored. Errors never repeat the query: it
holds the address being looked up.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, and_

from sandbox.newsletter.hashing import normalise_email
from sandbox.newsletter.schema import attrib, subscribers

__all__ = ["QueryError", "parse_query"]

_MAX_CONDITIONS = 10
_CONDITION = re.compile(
    r"""\s*(?:subscribers\.)?
    (?:(?P<field>email|name|uuid|status|id)\b|attribs\s*->>\s*'(?P<key>[a-z_][a-z0-9_]{0,63})')
    \s*=\s*
    (?:'(?P<text>(?:[^']|'')*)'|(?P<number>[0-9]{1,18})\b)
    \s*""",
    re.IGNORECASE | re.VERBOSE,
)
_AND = re.compile(r"and\s", re.IGNORECASE)


class QueryError(ValueError):
    """The query is not in the subset the sandbox understands."""


def parse_query(query: str) -> ColumnElement[bool]:
    """The WHERE clause for `query`, or QueryError."""
    conditions: list[ColumnElement[bool]] = []
    position = 0
    while True:
        match = _CONDITION.match(query, position)
        if match is None or len(conditions) >= _MAX_CONDITIONS:
            raise QueryError(
                "unsupported query: use subscribers.<email|name|uuid|status|id> = '...' or "
                "subscribers.attribs->>'key' = '...', joined with AND"
            )
        conditions.append(_condition(match))
        position = match.end()
        if position == len(query):
            return and_(*conditions)
        joiner = _AND.match(query, position)
        if joiner is None:
            raise QueryError("unsupported query: conditions must be joined with AND")
        position = joiner.end()


def _condition(match: re.Match[str]) -> ColumnElement[bool]:
    text, number = match.group("text"), match.group("number")
    value: Any = text.replace("''", "'") if text is not None else int(number)
    key = match.group("key")
    if key is not None:
        return attrib(key.lower()) == str(value)
    field = match.group("field").lower()
    if field == "id":
        if not isinstance(value, int):
            raise QueryError("unsupported query: subscribers.id is a number")
        return subscribers.c.id == value
    if isinstance(value, int):
        raise QueryError(f"unsupported query: subscribers.{field} is a quoted string")
    if field == "email":
        value = normalise_email(value)
    condition: ColumnElement[bool] = subscribers.c[field] == value
    return condition
