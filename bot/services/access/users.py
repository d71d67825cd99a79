"""Chat users: remember who we saw, their language, and role grants."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.models.users import ROLES, ChatUser, RoleGrant
from bot.db.upsert import insert_ignore_returning
from bot.i18n import LOCALES
from bot.services.shared import audit
from bot.services.shared.errors import DomainError

LAST_SEEN_RESOLUTION = timedelta(minutes=5)


async def ensure(
    session: AsyncSession,
    *,
    now: datetime,
    user_id: int,
    first_name: str,
    username: str | None,
    telegram_language: str | None,
) -> ChatUser:
    """Create a first-seen user with INSERT ... ON CONFLICT DO NOTHING RETURNING (another
    process may be creating the same user at this moment: no unique-key failure), or load the
    one that process made; the caller commits. One statement for a new user."""
    user = await insert_ignore_returning(session, ChatUser, {
        "id": user_id, "first_name": first_name, "username": username,
        "telegram_language": telegram_language, "unreachable": False, "created_at": now,
        "last_seen_at": now}, ["id"])
    if user is None:
        user = await session.get(ChatUser, user_id)
    if user is None:  # cannot happen: inserted or already there
        raise LookupError(f"chat user {user_id} vanished")
    return user


def refresh(
    session: AsyncSession,
    user: ChatUser | None,
    *,
    now: datetime,
    user_id: int,
    first_name: str,
    username: str | None,
    telegram_language: str | None,
) -> ChatUser:
    """Create or refresh an already loaded chat user record (the caller commits).

    Writes only what changed, and `last_seen_at` at most every few minutes, so that a busy
    user's every message does not cost a write.
    """
    if user is None:
        user = ChatUser(id=user_id, first_name=first_name, username=username,
                        telegram_language=telegram_language, created_at=now, last_seen_at=now)
        session.add(user)
        return user
    fresh = {"first_name": first_name, "username": username,
             "telegram_language": telegram_language, "unreachable": False}
    for name, value in fresh.items():  # writing to us means they can be reached again
        if getattr(user, name) != value:
            setattr(user, name, value)
    if user.last_seen_at is None or now - user.last_seen_at > LAST_SEEN_RESOLUTION:
        user.last_seen_at = now
    return user


async def set_language(session: AsyncSession, *, user_id: int, locale: str, now: datetime) -> None:
    """Store the user's chosen language (the caller commits)."""
    if locale not in LOCALES:
        raise DomainError("Unknown language %(locale)s.", locale=locale)
    user = await session.get(ChatUser, user_id)
    if user is None:
        user = ChatUser(id=user_id, first_name="", created_at=now)
        session.add(user)
    user.language = locale
    await session.flush()


async def grant_role(
    session: AsyncSession,
    *,
    now: datetime,
    user_id: int,
    role: str,
    unit_code: str,
    actor_user_id: int | None = None,
    source: str = "grant",
) -> bool:
    """Give `role` on `unit_code` to a chat user; returns False when it was already held."""
    if role not in ROLES:
        raise DomainError("Unknown role %(role)s; use one of: %(roles)s.", role=role,
                          roles=", ".join(ROLES))
    if await session.get(Unit, unit_code) is None:
        raise DomainError("Unknown unit %(code)s.", code=unit_code)
    exists = await session.scalar(
        select(RoleGrant.id).where(RoleGrant.user_id == user_id, RoleGrant.role == role,
                                   RoleGrant.unit_code == unit_code)
    )
    if exists:
        return False
    session.add(RoleGrant(user_id=user_id, role=role, unit_code=unit_code, source=source,
                          granted_at=now))
    audit.record(session, now=now, action="role.grant", actor_user_id=actor_user_id,
                 object_type="user", object_id=str(user_id), unit_code=unit_code, role=role,
                 source=source)
    await session.flush()
    return True


async def revoke_role(
    session: AsyncSession, *, now: datetime, user_id: int, role: str, unit_code: str,
    actor_user_id: int | None = None,
) -> bool:
    """Remove a grant; returns False when there was none."""
    res = await session.execute(
        delete(RoleGrant).where(RoleGrant.user_id == user_id, RoleGrant.role == role,
                                RoleGrant.unit_code == unit_code)
    )
    removed = bool(getattr(res, "rowcount", 0))
    if removed:
        audit.record(session, now=now, action="role.revoke", actor_user_id=actor_user_id,
                     object_type="user", object_id=str(user_id), unit_code=unit_code, role=role)
    await session.flush()
    return removed
