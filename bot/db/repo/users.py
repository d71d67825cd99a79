"""Queries on chat users and role grants (never commits)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.models.users import ChatUser, RoleGrant


async def get_user(session: AsyncSession, user_id: int) -> ChatUser | None:
    """The chat user with this Telegram id, or None."""
    return await session.get(ChatUser, user_id)


async def user_with_grants(
    session: AsyncSession, user_id: int
) -> tuple[ChatUser | None, list[tuple[str, str, str]]]:
    """The chat user (or None) and (role, unit_code, unit_path) of their grants, one query.

    Grants are keyed by Telegram id and may exist before the user ever wrote to the bot, so
    both sides hang off the id itself, not off the user row.
    """
    uid = select(literal(user_id).label("uid")).subquery()
    grant = RoleGrant.__table__.join(Unit.__table__, Unit.code == RoleGrant.unit_code)
    stmt = (
        select(ChatUser, RoleGrant.role, RoleGrant.unit_code, Unit.path)
        .select_from(uid)
        .outerjoin(ChatUser, ChatUser.id == uid.c.uid)
        .outerjoin(grant, RoleGrant.user_id == uid.c.uid)
        .order_by(Unit.path, RoleGrant.role)
    )
    user: ChatUser | None = None
    grants: list[tuple[str, str, str]] = []
    for row, role, code, path in (await session.execute(stmt)).all():
        user = user or row
        if role is not None:
            grants.append((role, code, path))
    return user, grants


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
