"""Dialect-aware INSERT ... ON CONFLICT DO NOTHING (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignore(
    session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> int:
    """Insert rows, skipping those that clash on `conflict`; returns how many were inserted."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
    stmt = ins.values(list(rows)).on_conflict_do_nothing(index_elements=list(conflict))
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
