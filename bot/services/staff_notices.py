"""Notices to a staff member's chat account when someone else changes its binding or status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.staff import Staff
from bot.services.outbox import enqueue, recipients_locales, render_notice


async def _tell(session: AsyncSession, *, now: datetime, user_id: int, kind: str, key: str,
                template: str, **context: object) -> bool:
    """Queue one notice to `user_id` in their language (caller commits)."""
    locale = (await recipients_locales(session, [user_id]))[user_id]
    text = render_notice(template, locale, **context)
    return await enqueue(session, now=now, chat_id=user_id, kind=kind, text=text,
                         dedup_key=key)


async def tell_binding_moved(session: AsyncSession, *, now: datetime, staff: Staff,
                             previous_user_id: int) -> bool:
    """The account that was bound to `staff` hears that another account took the record."""
    return await _tell(
        session, now=now, user_id=previous_user_id, kind="binding_moved",
        key=f"binding-moved:{staff.staff_id}:{previous_user_id}:{now.isoformat()}",
        template="notices/binding_moved.html.j2", staff_id=staff.staff_id)


async def tell_status_changed(session: AsyncSession, *, now: datetime, staff: Staff,
                              user_id: int, status: str) -> bool:
    """The bound account hears that its office suspended, revoked or reinstated the record."""
    return await _tell(
        session, now=now, user_id=user_id, kind="staff_status",
        key=f"staff-status:{staff.staff_id}:{user_id}:{status}:{now.isoformat()}",
        template="notices/staff_status.html.j2", staff_id=staff.staff_id, status=status)
