"""Append to the audit log (inside the caller's transaction)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.audit import AuditEntry


def record(
    session: AsyncSession,
    *,
    now: datetime,
    action: str,
    actor_user_id: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    unit_code: str | None = None,
    **details: Any,
) -> AuditEntry:
    """Add one audit entry to the session; the caller's commit makes it durable."""
    entry = AuditEntry(
        at=now,
        actor_user_id=actor_user_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        unit_code=unit_code,
        details=details,
    )
    session.add(entry)
    return entry
