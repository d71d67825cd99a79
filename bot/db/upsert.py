"""Dialect-aware INSERT ... ON CONFLICT (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignore(
    session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> int:
    """Insert rows, skipping those that clash on `conflict`; returns how many were inserted."""
    if not rows:
        return 0
    stmt = _insert_ignoring(session, model, conflict)
    if len(rows) == 1:
        result = await session.execute(stmt.values(rows[0]))
        return int(getattr(result, "rowcount", 0) or 0)
    # Several rows: one statement whatever their number (a multi-VALUES insert compiled anew
    # for every batch size otherwise); the rows it returns are the ones inserted (the driver's
    # rowcount of an executemany is not reliable).
    table = model.__table__
    returned = await session.execute(stmt.returning(*(table.c[c] for c in conflict)), list(rows))
    return len(returned.all())


async def insert_ignore_returning(
    session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> list[Any]:
    """Insert rows unless they clash on `conflict`, in one statement; the new objects (none
    for a row that was already there)."""
    if not rows:
        return []
    stmt = _insert_ignoring(session, model, conflict).returning(model)
    if len(rows) == 1:
        return list((await session.scalars(stmt.values(rows[0]))).all())
    return list((await session.scalars(stmt, list(rows))).all())


async def upsert_returning(
    session: AsyncSession, model: Any, row: dict[str, Any], conflict: Sequence[str],
    keep: Sequence[str] = (),
) -> Any:
    """Insert `row`, or update the row it clashes with on `conflict` (every column of `row`
    but `conflict` and `keep`), in one statement; the object, as stored (an object of it already
    in the session is refreshed)."""
    stmt = _upsert_stmt(session.get_bind().dialect.name, model, tuple(row), tuple(conflict),
                        tuple(keep))
    return (await session.scalars(stmt, row, execution_options={"populate_existing": True})
            ).one()


@lru_cache(maxsize=32)
def _upsert_stmt(dialect: str, model: Any, columns: tuple[str, ...], conflict: tuple[str, ...],
                 keep: tuple[str, ...]) -> Any:
    """The upsert of `upsert_returning` for rows of these columns, built once (the values
    bound at execution): building it, its EXCLUDED columns above all, cost more than running
    it (a report draft is saved on every step)."""
    ins: Any = postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
    return ins.on_conflict_do_update(
        index_elements=list(conflict),
        set_={c: ins.excluded[c] for c in columns if c not in conflict and c not in keep},
    ).returning(model)


def _insert_ignoring(session: AsyncSession, model: Any, conflict: Sequence[str]) -> Any:
    """The dialect's INSERT into `model` with ON CONFLICT (`conflict`) DO NOTHING."""
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
    return ins.on_conflict_do_nothing(index_elements=list(conflict))
