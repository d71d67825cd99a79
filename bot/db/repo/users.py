"""Queries on chat users and role grants (never commits)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.models.users import ChatUser, RoleGrant


async def get_user(session: AsyncSession, user_id: int) -> ChatUser | None:
    """The chat user with this Telegram id, or None."""
    return await session.get(ChatUser, user_id)


async def grants_with_paths(session: AsyncSession, user_id: int) -> Sequence[tuple[str, str, str]]:
    """(role, unit_code, unit_path) of every grant the user holds."""
    stmt = (
        select(RoleGrant.role, RoleGrant.unit_code, Unit.path)
        .join(Unit, Unit.code == RoleGrant.unit_code)
        .where(RoleGrant.user_id == user_id)
        .order_by(Unit.path, RoleGrant.role)
    )
    return [(r, c, p) for r, c, p in (await session.execute(stmt)).all()]


async def holders(session: AsyncSession, roles: Sequence[str], unit_code: str) -> Sequence[int]:
    """User ids holding one of `roles` granted exactly on `unit_code`."""
    stmt = (
        select(RoleGrant.user_id)
        .where(RoleGrant.role.in_(roles), RoleGrant.unit_code == unit_code)
        .distinct()
        .order_by(RoleGrant.user_id)
    )
    return (await session.scalars(stmt)).all()
