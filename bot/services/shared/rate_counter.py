"""Atomic fixed-window counters: one INSERT ... ON CONFLICT DO UPDATE ... RETURNING per check.

Each key holds two windows (say this minute and today). A bump counts only when both are
under their limits, and the statement itself decides it: on PostgreSQL the conflicting row is
locked for the rest of the transaction, on SQLite every transaction takes the write lock up
front, so concurrent bumps of one key are serialised and never overshoot the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Integer,
    String,
    and_,
    bindparam,
    case,
    literal,
    select,
    true,
    union_all,
    update,
)
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
    params: dict[str, Any] = {}
    for i, lim in enumerate(limits):
        params.update({f"k{i}": lim.key, f"aw{i}": lim.a_window, f"al{i}": lim.a_limit,
                       f"bw{i}": lim.b_window, f"bl{i}": lim.b_limit,
                       f"first{i}": int(lim.a_limit > 0 and lim.b_limit > 0),
                       f"ok{i}": lim.a_limit > 0 and lim.b_limit > 0})
    stmt = _bump_many_stmt(session.get_bind().dialect.name, len(limits))
    return {str(k): Bump(bool(ok), int(a), int(b))
            for k, ok, a, b in (await session.execute(stmt, params)).all()}


@lru_cache(maxsize=8)
def _bump_many_stmt(dialect: str, n: int) -> Any:
    """The statement of `bump_many` for `n` keys, built once per dialect (every value is a
    bound parameter: k0, aw0, al0, bw0, bl0, first0, ok0, k1, ...).

    The rows come from a UNION ALL of parameter SELECTs rather than a multi-row VALUES, which
    SQLAlchemy cannot cache (it would compile the statement on every lookup); each SELECT
    carries `WHERE true`, which SQLite needs to tell an upsert's ON CONFLICT from a join.
    """
    table: Any = RateCounter.__table__
    rows = [
        select(bindparam(f"k{i}", type_=String).label("key"),
               bindparam(f"aw{i}", type_=BigInteger).label("a_window"),
               bindparam(f"first{i}", type_=Integer).label("a_count"),
               bindparam(f"bw{i}", type_=BigInteger).label("b_window"),
               bindparam(f"first{i}", type_=Integer).label("b_count"),
               bindparam(f"ok{i}", type_=Boolean).label("ok")).where(true())
        for i in range(n)
    ]
    source = rows[0] if n == 1 else union_all(*rows)
    ins: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    ins = ins.from_select(["key", "a_window", "a_count", "b_window", "b_count", "ok"], source)
    new = ins.excluded
    a_limit = case(*((table.c.key == bindparam(f"k{i}", type_=String),
                      bindparam(f"al{i}", type_=Integer)) for i in range(n)), else_=0)
    b_limit = case(*((table.c.key == bindparam(f"k{i}", type_=String),
                      bindparam(f"bl{i}", type_=Integer)) for i in range(n)), else_=0)
    a_old = case((table.c.a_window == new.a_window, table.c.a_count), else_=0)
    b_old = case((table.c.b_window == new.b_window, table.c.b_count), else_=0)
    allowed = and_(a_old < a_limit, b_old < b_limit)
    inc = case((allowed, 1), else_=0)
    return ins.on_conflict_do_update(
        index_elements=["key"],
        set_={"a_window": new.a_window, "b_window": new.b_window,
              "a_count": a_old + inc, "b_count": b_old + inc,
              "ok": case((allowed, True), else_=False)},
    ).returning(table.c.key, table.c.ok, table.c.a_count, table.c.b_count)


async def unbump(session: AsyncSession, key: str) -> None:
    """Take back one counted event of `key` (its bump in this transaction was allowed)."""
    table: Any = RateCounter.__table__
    await session.execute(update(table).where(table.c.key == key).values(
        a_count=table.c.a_count - 1, b_count=table.c.b_count - 1))
