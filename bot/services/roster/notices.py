"""Notices to a staff member's chat account when someone else changes its binding or status."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.staff import Staff
from bot.services.shared.outbox import notify


async def tell_binding_moved(session: AsyncSession, *, now: datetime, staff: Staff,
                             previous_user_id: int) -> bool:
    """The account that was bound to `staff` hears that another account took the record."""
    return bool(await notify(
        session, now=now, users=[previous_user_id], kind="binding_moved",
        template="notices/binding_moved.html.j2",
        key=f"binding-moved:{staff.staff_id}:{now.isoformat()}", staff_id=staff.staff_id))


async def tell_status_changed(session: AsyncSession, *, now: datetime, staff: Staff,
                              user_id: int, status: str) -> bool:
    """The bound account hears that its office suspended, revoked or reinstated the record."""
    return bool(await notify(
        session, now=now, users=[user_id], kind="staff_status",
        template="notices/staff_status.html.j2",
        key=f"staff-status:{staff.staff_id}:{status}:{now.isoformat()}",
        staff_id=staff.staff_id, status=status))
