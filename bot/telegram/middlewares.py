"""Outer middlewares: DB session bound to the update, the principal (user + roles), i18n."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.session_hooks import bind_update
from bot.fsm_storage import HANDLER_SESSION
from bot.i18n import Catalogs, pick_locale
from bot.services import users as users_service
from bot.services.access import load_principal

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ContextMiddleware(BaseMiddleware):
    """Gives each update `session` (bound to the update), `principal`, `i18n` and `now`.

    The chat user is refreshed in a short transaction of its own, so that the handler's
    session commits only the handler's work (and, with it, marks the update processed).
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Open the session, resolve the user and run the handler."""
        sessionmaker: async_sessionmaker[AsyncSession] = data["sessionmaker"]
        catalogs: Catalogs = data["catalogs"]
        clock: Callable[[], datetime] = data.get("clock") or (lambda: datetime.now(UTC))
        now = clock()
        data["now"] = now
        user: User | None = data.get("event_from_user")
        locale = pick_locale(None, None)
        if user is not None and not user.is_bot:
            async with sessionmaker() as s:
                row = await users_service.touch(
                    s, now=now, user_id=user.id, first_name=user.first_name,
                    username=user.username, telegram_language=user.language_code,
                )
                changed = bool(s.new or s.dirty)  # before the next query autoflushes them
                locale = pick_locale(row.language, user.language_code)
                principal = await load_principal(s, user.id, locale)
                if changed:
                    await s.commit()
            data["principal"] = principal
        else:
            data["principal"] = None
        data["locale"] = locale
        data["i18n"] = catalogs.get(locale)
        async with sessionmaker() as session:
            if isinstance(event, Update):
                bind_update(session, event.update_id)
            data["session"] = session
            token = HANDLER_SESSION.set(session)
            try:
                return await handler(event, data)
            finally:
                HANDLER_SESSION.reset(token)
