"""Roles that come from the roster: a binding grant follows its staff record.

A grant made through a binding carries the record's staff ID (`source_staff_id`). Whenever a
record changes (import, /suspend, /revoke, /reinstate, bind, unbind) `sync_record_grants`
makes its grants equal to what the record says now; `load_principal` also ignores any
binding grant that no longer matches its record, so nothing stale survives to the next update.
Grants made by hand (`censusbot grant`) carry no record and are never touched here.

Privileged roles (office head, leader, Q&A desk, liaison) hold through a binding only when the
account was bound with a one-time code issued by an office: a shared phone contact alone (a
recycled number, a typo in the roster) must never hand out that power.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.staff import PRIVILEGED_ROLES, Staff
from bot.db.models.users import RoleGrant
from bot.db.models.verification import BindingCode
from bot.services.shared import audit

__all__ = ["PRIVILEGED_ROLES", "binding_allows", "drop_record_grants", "end_binding",
           "make_manual", "resync_records", "sync_record_grants"]


def binding_allows(role: str, bound_via: str | None) -> bool:
    """Whether a binding made via `bound_via` may carry `role`."""
    return role not in PRIVILEGED_ROLES or bound_via == "code"


def _wanted(staff: Staff) -> tuple[int, str, str] | None:
    if staff.telegram_user_id is None or staff.status != "active":
        return None
    if not binding_allows(staff.role, staff.bound_via):
        return None
    return staff.telegram_user_id, staff.role, staff.unit_code


async def sync_record_grants(
    session: AsyncSession, *, now: datetime, staff: Staff, actor_user_id: int | None,
) -> None:
    """Make the binding grants of one record equal to what the record says now (no commit)."""
    wanted = _wanted(staff)
    rows = (await session.scalars(
        select(RoleGrant).where(or_(
            RoleGrant.source_staff_id == staff.staff_id,
            # a binding grant of the bound account not yet tied to any record
            and_(RoleGrant.source == "binding", RoleGrant.source_staff_id.is_(None),
                 RoleGrant.user_id == (staff.telegram_user_id or -1))))
    )).all()
    have = False
    for grant in rows:
        if wanted is not None and (grant.user_id, grant.role, grant.unit_code) == wanted:
            grant.source_staff_id = staff.staff_id
            have = True
            continue
        await session.delete(grant)
        audit.record(session, now=now, action="role.revoke", actor_user_id=actor_user_id,
                     object_type="user", object_id=str(grant.user_id), unit_code=grant.unit_code,
                     role=grant.role, source="binding", staff_id=staff.staff_id)
    await session.flush()
    if wanted is None or have:
        return
    user_id, role, unit_code = wanted
    clash = await session.scalar(select(RoleGrant.id).where(
        RoleGrant.user_id == user_id, RoleGrant.role == role, RoleGrant.unit_code == unit_code))
    if clash is not None:  # the same role was also granted by hand: that grant covers it
        return
    session.add(RoleGrant(user_id=user_id, role=role, unit_code=unit_code, source="binding",
                          source_staff_id=staff.staff_id, granted_at=now))
    audit.record(session, now=now, action="role.grant", actor_user_id=actor_user_id,
                 object_type="user", object_id=str(user_id), unit_code=unit_code, role=role,
                 source="binding", staff_id=staff.staff_id, via=staff.bound_via)
    await session.flush()


async def drop_record_grants(
    session: AsyncSession, *, now: datetime, staff: Staff, actor_user_id: int | None,
) -> int:
    """Remove every grant that came from this record, whoever holds it (no commit)."""
    rows = (await session.scalars(
        select(RoleGrant).where(RoleGrant.source_staff_id == staff.staff_id))).all()
    for grant in rows:
        await session.delete(grant)
        audit.record(session, now=now, action="role.revoke", actor_user_id=actor_user_id,
                     object_type="user", object_id=str(grant.user_id), unit_code=grant.unit_code,
                     role=grant.role, source="binding", staff_id=staff.staff_id)
    await session.flush()
    return len(rows)


async def end_binding(
    session: AsyncSession, *, now: datetime, staff: Staff, actor_user_id: int | None,
) -> None:
    """A revoked record: unbind it, drop its grants, cancel its unused codes (no commit)."""
    await drop_record_grants(session, now=now, staff=staff, actor_user_id=actor_user_id)
    staff.telegram_user_id = None
    staff.bound_via = None
    await session.execute(
        update(BindingCode)
        .where(BindingCode.staff_id == staff.staff_id, BindingCode.used_at.is_(None),
               BindingCode.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def resync_records(
    session: AsyncSession, *, now: datetime, staff_ids: Iterable[str],
    actor_user_id: int | None,
) -> int:
    """After a roster import: bring the grants of every changed, bound record up to date."""
    ids = list(dict.fromkeys(staff_ids))
    touched = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        grants_of = set((await session.scalars(
            select(RoleGrant.source_staff_id).where(RoleGrant.source_staff_id.in_(chunk))
        )).all())
        records = (await session.scalars(
            select(Staff).where(Staff.staff_id.in_(chunk),
                                or_(Staff.telegram_user_id.is_not(None),
                                    Staff.staff_id.in_(grants_of or {""})))
            .execution_options(populate_existing=True)
        )).all()
        for staff in records:
            if staff.status == "revoked" and staff.telegram_user_id is not None:
                audit.record(session, now=now, action="staff.revoke",
                             actor_user_id=actor_user_id, object_type="staff",
                             object_id=staff.staff_id, unit_code=staff.unit_code,
                             bound_user_id=staff.telegram_user_id, via="import")
                await end_binding(session, now=now, staff=staff, actor_user_id=actor_user_id)
            else:
                await sync_record_grants(session, now=now, staff=staff,
                                         actor_user_id=actor_user_id)
            touched += 1
    return touched


async def make_manual(
    session: AsyncSession, *, user_id: int, role: str, unit_code: str,
) -> bool:
    """Turn a binding grant of exactly this role into a hand-made one (no commit).

    `censusbot grant` on a role the user already holds through a binding makes it explicit:
    it then stays when the record changes.
    """
    res = await session.execute(
        update(RoleGrant)
        .where(RoleGrant.user_id == user_id, RoleGrant.role == role,
               RoleGrant.unit_code == unit_code, RoleGrant.source == "binding")
        .values(source="grant", source_staff_id=None)
    )
    return bool(getattr(res, "rowcount", 0))


async def delete_orphans(session: AsyncSession, user_id: int) -> None:
    """Remove binding grants of a user that are tied to no record (no commit)."""
    await session.execute(delete(RoleGrant).where(
        RoleGrant.user_id == user_id, RoleGrant.source == "binding",
        RoleGrant.source_staff_id.is_(None)))
