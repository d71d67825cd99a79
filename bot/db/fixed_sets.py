"""Conditions on a column against a fixed set of values, without an expanding parameter.

`column.in_(values)` binds the list as one "expanding" parameter that SQLAlchemy renders into
the SQL text again on every execution (for the list's length), even when the statement itself
is cached: on a statement run for every update (the inbox pick, the user-and-grants read) that
rendering cost more CPU than the rest of the execution. For a set fixed in the code, an OR of
equalities compiles once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, or_


def one_of(column: Any, values: Iterable[Any]) -> Any:
    """`column IN values` for a fixed set, compiled once (an OR of equalities)."""
    return or_(*(column == v for v in sorted(values)))


def none_of(column: Any, values: Iterable[Any]) -> Any:
    """`column NOT IN values` for a fixed set, compiled once (an AND of inequalities; NULL is
    in none, as with NOT IN)."""
    return and_(*(column != v for v in sorted(values)))
