"""Queries on chat users and role grants (never commits)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.fixed_sets import in_batch, none_of
from bot.db.models.org import Unit
from bot.db.models.staff import PRIVILEGED_ROLES, Staff
from bot.db.models.users import ChatUser, RoleGrant


def effective_grant_clause() -> Any:
    """SQL condition (RoleGrant outer-joined to Staff on source_staff_id): the grant counts.

    A hand-made grant always counts; a binding grant counts only while its record is bound to
    the grant's holder, active, of the grant's role and unit, and bound by code when privileged.
    """
    return or_(
        RoleGrant.source != "binding",
        and_(Staff.telegram_user_id == RoleGrant.user_id, Staff.status == "active",
             Staff.role == RoleGrant.role, Staff.unit_code == RoleGrant.unit_code,
             or_(none_of(Staff.role, PRIVILEGED_ROLES), Staff.bound_via == "code")),
    )


async def get_user(session: AsyncSession, user_id: int) -> ChatUser | None:
    """The chat user with this Telegram id, or None."""
    return await session.get(ChatUser, user_id)


Grants = list[tuple[str, str, str]]


async def user_with_grants(
    session: AsyncSession, user_id: int
) -> tuple[ChatUser | None, Grants]:
    """The chat user (or None) and (role, unit_code, unit_path) of their effective grants
    (binding grants only while their staff record still says so), in one query."""
    return (await users_with_grants(session, [user_id]))[user_id]


async def users_with_grants(
    session: AsyncSession, user_ids: Sequence[int]
) -> dict[int, tuple[ChatUser | None, Grants]]:
    """`user_with_grants` of several users in one query: by id, (user or None, grants).

    Grants are keyed by Telegram id and may exist before the user ever wrote to the bot, so
    both sides hang off the id itself, not off the user row.
    """
    found: dict[int, tuple[ChatUser | None, Grants]] = {int(u): (None, []) for u in user_ids}
    if not found:
        return found
    rows = (await session.execute(_users_with_grants_stmt(session.get_bind().dialect.name),
                                   {"uids": sorted(found)})).all()
    for uid, row, role, code, path in rows:
        user, grants = found[int(uid)]
        if role is not None:
            grants.append((role, code, path))
        found[int(uid)] = (user or row, grants)
    return found


@lru_cache(maxsize=2)
def _users_with_grants_stmt(dialect: str) -> Any:
    """The statement of `users_with_grants`, built once per dialect (the ids are one batch
    parameter, "uids"): it runs for every update, and building it cost more CPU than running
    it."""
    ids = union(select(ChatUser.id.label("uid")).where(in_batch(ChatUser.id, "uids", dialect)),
                select(RoleGrant.user_id.label("uid"))
                .where(in_batch(RoleGrant.user_id, "uids", dialect))).subquery()
    grant = (
        select(RoleGrant.user_id.label("gid"), RoleGrant.role.label("role"),
               RoleGrant.unit_code.label("code"), Unit.path.label("path"))
        .join(Unit, Unit.code == RoleGrant.unit_code)
        .outerjoin(Staff, Staff.staff_id == RoleGrant.source_staff_id)
        .where(in_batch(RoleGrant.user_id, "uids", dialect),
               effective_grant_clause())  # as grants_with_paths
        .subquery()
    )
    return (
        select(ids.c.uid, ChatUser, grant.c.role, grant.c.code, grant.c.path)
        .select_from(ids)
        .outerjoin(ChatUser, ChatUser.id == ids.c.uid)
        .outerjoin(grant, grant.c.gid == ids.c.uid)
        .order_by(ids.c.uid, grant.c.path, grant.c.role)
    )


async def grants_with_paths(session: AsyncSession, user_id: int) -> Sequence[tuple[str, str, str]]:
    """(role, unit_code, unit_path) of every grant the user holds (binding grants only while
    their staff record still says so)."""
    stmt = (
        select(RoleGrant.role, RoleGrant.unit_code, Unit.path)
        .join(Unit, Unit.code == RoleGrant.unit_code)
        .outerjoin(Staff, Staff.staff_id == RoleGrant.source_staff_id)
        .where(RoleGrant.user_id == user_id, effective_grant_clause())
        .order_by(Unit.path, RoleGrant.role)
    )
    return [(r, c, p) for r, c, p in (await session.execute(stmt)).all()]


async def holders(session: AsyncSession, roles: Sequence[str], unit_code: str) -> Sequence[int]:
    """User ids holding one of `roles` granted exactly on `unit_code`."""
    stmt = (
        select(RoleGrant.user_id)
        .outerjoin(Staff, Staff.staff_id == RoleGrant.source_staff_id)
        .where(RoleGrant.role.in_(roles), RoleGrant.unit_code == unit_code,
               effective_grant_clause())
        .distinct()
        .order_by(RoleGrant.user_id)
    )
    return (await session.scalars(stmt)).all()
