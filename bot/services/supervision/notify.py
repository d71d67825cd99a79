"""Queue supervision notices with inline buttons, per recipient language (outbox, caller's
transaction)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Catalogs, Translator
from bot.rendering import render
from bot.services.shared.outbox import enqueue, recipients_locales

Markup = Callable[[Translator], dict[str, Any] | None]
PREFIX = "sv"


@functools.cache
def catalogs() -> Catalogs:
    """The translators, loaded once."""
    return Catalogs()


def button(text: str, data: str) -> dict[str, str]:
    """One inline button (callback data under Telegram's 64 bytes)."""
    assert len(data.encode()) <= 64
    return {"text": text, "callback_data": data}


async def notify(session: AsyncSession, *, now: datetime, users: list[int], kind: str,
                 template: str, key: str, markup: Markup | None = None,
                 send_at: datetime | None = None, **context: Any) -> int:
    """Render `template` (and buttons) per recipient's language and enqueue once per key and
    recipient; `send_at` is when it is due (default `now`). Returns how many were queued."""
    if not users:
        return 0
    locales = await recipients_locales(session, users)
    added = 0
    for uid in sorted(set(users)):
        t = catalogs().get(locales[uid])
        text = render(template, t, **context)
        if await enqueue(session, now=now, chat_id=uid, kind=kind, text=text,
                         dedup_key=f"{key}:{uid}", reply_markup=markup(t) if markup else None,
                         not_before=send_at or now):
            added += 1
    return added
