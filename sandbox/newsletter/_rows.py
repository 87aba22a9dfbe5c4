"""The row type the store hands to the routes: any width, any column types."""

from __future__ import annotations

from typing import Any, TypeAlias

from sqlalchemy import Row

__all__ = ["AnyRow"]

AnyRow: TypeAlias = Row[*tuple[Any, ...]]
