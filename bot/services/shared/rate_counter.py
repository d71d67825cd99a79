"""Atomic fixed-window counters: one INSERT ... ON CONFLICT DO UPDATE ... RETURNING per check.

Each key holds two windows (say this minute and today). A bump counts only when both are
under their limits, and the statement itself decides it: on PostgreSQL the conflicting row is
locked for the rest of the transaction, on SQLite every transaction takes the write lock up
front, so concurrent bumps of one key are serialised and never overshoot the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.verification import RateCounter


@dataclass(frozen=True)
class Bump:
    """The outcome of one bump: allowed, and the counts of both windows afterwards."""

    ok: bool
    a_count: int
    b_count: int


async def bump(
    session: AsyncSession, key: str, *, a_window: int, a_limit: int, b_window: int,
    b_limit: int,
) -> Bump:
    """Count one event for `key` if both windows are under their limit (no commit)."""
    table: Any = RateCounter.__table__
    dialect = session.get_bind().dialect.name
    ins: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    first_ok = a_limit > 0 and b_limit > 0
    ins = ins.values(key=key, a_window=a_window, a_count=int(first_ok), b_window=b_window,
                     b_count=int(first_ok), ok=first_ok)
    a_old = case((table.c.a_window == literal(a_window), table.c.a_count), else_=0)
    b_old = case((table.c.b_window == literal(b_window), table.c.b_count), else_=0)
    allowed = and_(a_old < literal(a_limit), b_old < literal(b_limit))
    inc = case((allowed, 1), else_=0)
    stmt = ins.on_conflict_do_update(
        index_elements=["key"],
        set_={"a_window": literal(a_window), "b_window": literal(b_window),
              "a_count": a_old + inc, "b_count": b_old + inc,
              "ok": case((allowed, True), else_=False)},
    ).returning(table.c.ok, table.c.a_count, table.c.b_count)
    row = (await session.execute(stmt)).one()
    return Bump(bool(row[0]), int(row[1]), int(row[2]))


@dataclass(frozen=True)
class Limit:
    """One key's two windows and their limits, for `bump_many`."""

    key: str
    a_window: int
    a_limit: int
    b_window: int
    b_limit: int


async def bump_many(session: AsyncSession, limits: Sequence[Limit]) -> dict[str, Bump]:
    """`bump` for several distinct keys in ONE statement (no commit); outcomes by key.

    Each key is judged on its own counts only, exactly as `bump` would judge it.
    """
    if not limits:
        return {}
    table: Any = RateCounter.__table__
    dialect = session.get_bind().dialect.name
    ins: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    rows = []
    for lim in limits:
        first_ok = lim.a_limit > 0 and lim.b_limit > 0
        rows.append({"key": lim.key, "a_window": lim.a_window, "a_count": int(first_ok),
                     "b_window": lim.b_window, "b_count": int(first_ok), "ok": first_ok})
    ins = ins.values(rows)
    new = ins.excluded
    a_limit = case({lim.key: literal(lim.a_limit) for lim in limits}, value=table.c.key)
    b_limit = case({lim.key: literal(lim.b_limit) for lim in limits}, value=table.c.key)
    a_old = case((table.c.a_window == new.a_window, table.c.a_count), else_=0)
    b_old = case((table.c.b_window == new.b_window, table.c.b_count), else_=0)
    allowed = and_(a_old < a_limit, b_old < b_limit)
    inc = case((allowed, 1), else_=0)
    stmt = ins.on_conflict_do_update(
        index_elements=["key"],
        set_={"a_window": new.a_window, "b_window": new.b_window,
              "a_count": a_old + inc, "b_count": b_old + inc,
              "ok": case((allowed, True), else_=False)},
    ).returning(table.c.key, table.c.ok, table.c.a_count, table.c.b_count)
    return {str(k): Bump(bool(ok), int(a), int(b))
            for k, ok, a, b in (await session.execute(stmt)).all()}


async def unbump(session: AsyncSession, key: str) -> None:
    """Take back one counted event of `key` (its bump in this transaction was allowed)."""
    table: Any = RateCounter.__table__
    await session.execute(update(table).where(table.c.key == key).values(
        a_count=table.c.a_count - 1, b_count=table.c.b_count - 1))
