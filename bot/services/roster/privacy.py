"""Personal data kept no longer than needed: phone numbers of records that left the census.

A roster phone number is what a worker's shared contact is matched against; once the record
is revoked it serves nothing, so `redact_departed_phones` blanks it after the retention
period (CENSUSBOT_PHONE_RETENTION_DAYS). Raw updates, which hold shared contacts, are pruned
by the inbox (CENSUSBOT_INBOX_RETENTION_DAYS).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.staff import Staff
from bot.services.shared import audit

REDACTED_PHONE = ""


async def redact_departed_phones(session: AsyncSession, *, now: datetime, days: int) -> int:
    """Blank the phone of every record revoked more than `days` days ago; the caller commits."""
    res = await session.execute(
        update(Staff)
        .where(Staff.status == "revoked", Staff.updated_at < now - timedelta(days=days),
               Staff.phone != REDACTED_PHONE)
        .values(phone=REDACTED_PHONE)
    )
    count = int(getattr(res, "rowcount", 0) or 0)
    if count:
        audit.record(session, now=now, action="privacy.phones_redacted", object_type="staff",
                     count=count, retention_days=days)
    await session.flush()
    return count
