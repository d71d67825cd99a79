"""Chat users: remember who we saw, their language, and role grants."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Seen:
    """A person as an update shows them: Telegram id, names and language."""

    user_id: int
    first_name: str
    username: str | None
    telegram_language: str | None


async def ensure_many(session: AsyncSession, *, now: datetime,
                      people: Sequence[Seen]) -> dict[int, ChatUser]:
    """Create first-seen users with one INSERT ... ON CONFLICT DO NOTHING RETURNING (another
    process may be creating the same users at this moment: no unique-key failure), and load
    those that process made; by id. The caller commits."""
    rows = {p.user_id: {"id": p.user_id, "first_name": p.first_name, "username": p.username,
                        "telegram_language": p.telegram_language, "unreachable": False,
                        "created_at": now, "last_seen_at": now} for p in people}
    made = {u.id: u for u in await insert_ignore_returning(
        session, ChatUser, list(rows.values()), ["id"])}
    for user_id in rows.keys() - made.keys():
        user = await session.get(ChatUser, user_id)
        if user is None:  # cannot happen: inserted or already there
            raise LookupError(f"chat user {user_id} vanished")
        made[user_id] = user
    return made


def changes(
    user: ChatUser,
    *,
    now: datetime,
    first_name: str,
    username: str | None,
    telegram_language: str | None,
) -> dict[str, object]:
    """What a message from this already stored user changes in their record: their names and
    language as Telegram now gives them, reachable again, and `last_seen_at` at most every few
    minutes, so that a busy user's every message does not cost a write. Empty: nothing."""
    fresh: dict[str, object] = {"first_name": first_name, "username": username,
                                "telegram_language": telegram_language, "unreachable": False}
    found = {name: value for name, value in fresh.items() if getattr(user, name) != value}
    if user.last_seen_at is None or now - user.last_seen_at > LAST_SEEN_RESOLUTION:
        found["last_seen_at"] = now
    return found


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
    """Create or refresh an already loaded chat user record (the caller commits); writes only
    what `changes` says."""
    if user is None:
        user = ChatUser(id=user_id, first_name=first_name, username=username,
                        telegram_language=telegram_language, created_at=now, last_seen_at=now)
        session.add(user)
        return user
    for name, value in changes(user, now=now, first_name=first_name, username=username,
                               telegram_language=telegram_language).items():
        setattr(user, name, value)
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
