"""Queries on the organisation tree (never commits)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import String, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.models.org import Unit


async def get(session: AsyncSession, code: str) -> Unit | None:
    """The unit with this code, or None."""
    return await session.get(Unit, code)


async def all_codes(session: AsyncSession) -> set[str]:
    """Every unit code."""
    return set((await session.scalars(select(Unit.code))).all())


async def subtree(
    session: AsyncSession, unit: Unit, *, include_self: bool = True
) -> Sequence[Unit]:
    """The unit and every unit below it, ordered by path."""
    stmt = select(Unit).where(Unit.path.startswith(unit.path)).order_by(Unit.path)
    units = (await session.scalars(stmt)).all()
    return units if include_self else [u for u in units if u.code != unit.code]


async def children(session: AsyncSession, code: str) -> Sequence[Unit]:
    """Direct children of a unit, ordered by code."""
    stmt = select(Unit).where(Unit.parent_code == code).order_by(Unit.code)
    return (await session.scalars(stmt)).all()


async def ancestors(session: AsyncSession, unit: Unit) -> list[Unit]:
    """The unit's ancestors, root first (the unit itself excluded)."""
    codes = [c for c in unit.path.strip("/").split("/") if c and c != unit.code]
    if not codes:
        return []
    found = {u.code: u for u in (await session.scalars(select(Unit).where(Unit.code.in_(codes))))}
    return [found[c] for c in codes if c in found]


async def chain(session: AsyncSession, code: str) -> list[Unit]:
    """The unit and the units above it, root first (empty when there is no such unit): one
    statement, where `get` and `ancestors` take two."""
    return list((await session.scalars(_chain_stmt(), {"code": code})).all())


def at_or_above(upper: Any, unit: Any) -> Any:
    """SQL condition: `upper` is `unit` or one of the units above it (its path a prefix of the
    unit's; `upper` and `unit` are the Unit entity or aliases of it)."""
    return func.substr(unit.path, 1, func.length(upper.path)) == upper.path


@lru_cache(maxsize=1)
def _chain_stmt() -> Any:
    """The statement of `chain`, built once (the unit's code is the bound parameter `code`)."""
    own = aliased(Unit)
    return (select(Unit).select_from(own)
            .join(Unit, at_or_above(Unit, own))
            .where(own.code == bindparam("code", type_=String))
            .order_by(func.length(Unit.path)))


async def roots(session: AsyncSession) -> Sequence[Unit]:
    """Units with no parent."""
    return (await session.scalars(select(Unit).where(Unit.parent_code.is_(None)))).all()
