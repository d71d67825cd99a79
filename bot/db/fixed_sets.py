"""Conditions on a column against a set of values, without re-rendering the statement.

`column.in_(values)` binds the list as one "expanding" parameter that SQLAlchemy renders into
the SQL text again on every execution (for the list's length), even when the statement itself
is cached: on a statement run for every update (the inbox pick, the user-and-grants read) that
rendering cost more CPU than the rest of the execution. For a set fixed in the code, an OR of
equalities compiles once; for a batch bound at execution, `in_batch` keeps one statement text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, or_
from sqlalchemy.dialects import postgresql


def one_of(column: Any, values: Iterable[Any]) -> Any:
    """`column IN values` for a fixed set, compiled once (an OR of equalities)."""
    return or_(*(column == v for v in sorted(values)))


def none_of(column: Any, values: Iterable[Any]) -> Any:
    """`column NOT IN values` for a fixed set, compiled once (an AND of inequalities; NULL is
    in none, as with NOT IN)."""
    return and_(*(column != v for v in sorted(values)))


def in_batch(column: Any, name: str, dialect: str) -> Any:
    """`column IN :name`, the list bound at execution (a batch of ids), for a statement built
    once. On PostgreSQL `column = ANY(:name)` with the list as one array: one statement text
    for every batch size, so each connection prepares it once (an expanding IN is a new text,
    so a new server-side prepare, for each length). Elsewhere an expanding IN."""
    if dialect == "postgresql":
        item = column.type
        if isinstance(item, String) and item.length:  # a cast to VARCHAR(n)[] would cut an
            item = String()  # over-long value down to n characters, and so match its prefix
        return column == any_(bindparam(name, type_=postgresql.ARRAY(item)))
    return column.in_(bindparam(name, expanding=True))
