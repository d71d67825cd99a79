"""Enqueue notices to people: written in the caller's transaction, delivered by the sender."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.outbox import OUTBOX_PENDING, OutboxMessage
from bot.db.upsert import insert_ignore


async def enqueue(
    session: AsyncSession,
    *,
    now: datetime,
    chat_id: int,
    kind: str,
    text: str | None = None,
    method: str = "sendMessage",
    payload: dict[str, Any] | None = None,
    dedup_key: str | None = None,
    reply_markup: dict[str, Any] | None = None,
    respect_quiet_hours: bool = True,
    not_before: datetime | None = None,
) -> bool:
    """Queue one message; with `dedup_key`, queueing the same key again adds nothing.

    Returns True when a row was added. The caller's commit makes it durable together with
    the business change that caused it.
    """
    body: dict[str, Any] = dict(payload or {})
    if text is not None:
        body.setdefault("text", text)
        body.setdefault("parse_mode", "HTML")
    if reply_markup is not None:
        body["reply_markup"] = reply_markup
    row = {
        "chat_id": chat_id,
        "kind": kind,
        "method": method,
        "payload": body,
        "dedup_key": dedup_key,
        "state": OUTBOX_PENDING,
        "is_group": chat_id < 0,
        "respect_quiet_hours": respect_quiet_hours,
        "not_before": not_before or now,
        "attempts": 0,
        "created_at": now,
    }
    if dedup_key is None:
        session.add(OutboxMessage(**row))
        return True
    return await insert_ignore(session, OutboxMessage, [row], ["dedup_key"]) > 0
