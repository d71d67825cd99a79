"""The update's one transaction: session, principal, i18n and `now`; replies after commit.

Each update gets ONE session. The chat user and their grants are read before it, outside any
transaction, together with the reads of other updates starting at that moment (a first-seen
user is created and committed there: bot.telegram.user_reads); a changed name or last-seen is
written and committed in the session. Then, bound to the update, it runs the handler.
Handlers and services only flush: the update's commit (made by `CommitBeforeSend` before the
first reply, or here when the handler returns) marks the update done together with whatever
the handler changed; a handler that never touched the database is marked done by the
processor. A reply to the chat never leaves while that transaction is open: `CommitBeforeSend`
commits the handler's session before any sending API call, so a slow or rate-limited (429)
reply holds no database lock.

A reply that leaves after its update was marked is stored with the mark (state `replying`,
bot.db.session_hooks), and the processor settles it once the call returned: a process killed
in between leaves it to be sent by whoever next claims the chat, so it is never lost (it may
arrive twice if the kill came after Telegram took it). A reply that leaves before any mark
needs no record: the update then reruns and replies again.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from aiogram.types import TelegramObject, Update, User
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from bot.db.session_hooks import (
    REPLY_KEY,
    REPLY_STORED,
    UPDATE_ID_KEY,
    bind_update,
    marked,
    store_further_reply,
)
from bot.fsm_storage import HANDLER_SESSION
from bot.i18n import Catalogs, pick_locale
from bot.services.access import users as users_service
from bot.services.access.principal import principal_from
from bot.services.access.users import Seen
from bot.telegram.user_reads import UserReads

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
_COMMIT_LOCK = "censusbot.commit_lock"
_COMMITTED = "censusbot.committed"
# Holds True once the update's own transaction committed (and so marked it done): the processor
# then needs no second transaction for the done-mark. A list the processor hands in, so that it
# sees the note even when the handler ran in a copy of its context (asyncio.wait_for on 3.11).
UPDATE_SETTLED: ContextVar[list[bool] | None] = ContextVar("update_settled", default=None)
# Holds True once a reply was stored in flight with the update (the processor settles it).
REPLY_IN_FLIGHT: ContextVar[list[bool] | None] = ContextVar("reply_in_flight", default=None)
# Calls whose replay after a crash is pointless (they expire in seconds) or not a message.
_EPHEMERAL = frozenset({"AnswerCallbackQuery", "AnswerInlineQuery", "SendChatAction",
                        "AnswerPreCheckoutQuery", "AnswerShippingQuery"})


@event.listens_for(Session, "after_commit")
def _note_commit(session: Session) -> None:
    if UPDATE_ID_KEY in session.info and not session.in_nested_transaction():
        session.info[_COMMITTED] = True


def reply_record(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any] | None:
    """The call as JSON ({"method", "params"}) to store while it is in flight; None for a call
    that needs no record (ephemeral, or uploading a file)."""
    name = type(method).__name__
    if name in _EPHEMERAL:
        return None
    files: dict[str, Any] = {}
    params = bot.session.prepare_value(method.model_dump(warnings=False), bot=bot, files=files,
                                       _dumps_json=False)
    return None if files else {"method": name, "params": params}


async def commit_handler_work(session: AsyncSession,
                              reply: dict[str, Any] | None = None) -> None:
    """Commit the handler's open transaction, if any (one caller at a time per session); with
    `reply`, the call about to leave, store it with the update's mark when there is one."""
    lock: asyncio.Lock = session.info.setdefault(_COMMIT_LOCK, asyncio.Lock())
    async with lock:
        stored = False
        if reply is not None and UPDATE_ID_KEY in session.info:
            if session.in_transaction():  # stored by the commit below, with the mark
                session.info[REPLY_KEY] = reply
            elif marked(session):  # an earlier commit marked it: one statement of its own
                await store_further_reply(session, reply)
                stored = True
        if session.in_transaction():
            await session.commit()
        stored = session.info.pop(REPLY_STORED, False) or stored
        if stored and (note := REPLY_IN_FLIGHT.get()) is not None:
            note.append(True)


class ContextMiddleware(BaseMiddleware):
    """Gives each update `session` (bound to the update), `principal`, `i18n` and `now`."""

    def __init__(self) -> None:
        self._readers: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], UserReads] = (
            weakref.WeakKeyDictionary())

    def _reads(self, sessionmaker: async_sessionmaker[AsyncSession]) -> UserReads:
        """The batched user reads of this database."""
        found = self._readers.get(sessionmaker)
        if found is None:
            found = self._readers[sessionmaker] = UserReads(sessionmaker)
        return found

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        """Open the update's session, resolve the user, run the handler, commit."""
        sessionmaker: async_sessionmaker[AsyncSession] = data["sessionmaker"]
        catalogs: Catalogs = data["catalogs"]
        clock: Callable[[], datetime] = data.get("clock") or (lambda: datetime.now(UTC))
        now = clock()
        data["now"] = now
        session = sessionmaker()
        try:
            result = await self._run(handler, event, data, session, catalogs, now)
        except asyncio.CancelledError:  # the task is being torn down: never mask that, and
            with contextlib.suppress(Exception):  # drop the connection (and any lock) with it
                await session.invalidate()
            raise
        except BaseException:
            await session.close()
            raise
        await session.close()
        return result

    async def _run(self, handler: Handler, event: TelegramObject, data: dict[str, Any],
                   session: AsyncSession, catalogs: Catalogs, now: datetime) -> Any:
        user: User | None = data.get("event_from_user")
        if user is not None and not user.is_bot:
            row, grants = await self._reads(data["sessionmaker"]).read(
                Seen(user.id, user.first_name, user.username, user.language_code), now)
            if users_service.changes(row, now=now, first_name=user.first_name,
                                     username=user.username,
                                     telegram_language=user.language_code):
                # a changed name or language, or a new last-seen: written in this session
                row = await session.merge(row, load=False)
                users_service.refresh(
                    session, row, now=now, user_id=user.id, first_name=user.first_name,
                    username=user.username, telegram_language=user.language_code)
            locale = pick_locale(row.language, user.language_code)
            data["principal"] = principal_from(user.id, locale, grants)
            # A changed name, language or last seen commits before the handler, not yet bound
            # to the update (it marks nothing done): a handler that awaits something slow
            # without the database then holds no lock.
            if session.dirty:
                await session.commit()
        else:
            locale = pick_locale(None, None)
            data["principal"] = None
        data["locale"] = locale
        data["i18n"] = catalogs.get(locale)
        if isinstance(event, Update):
            bind_update(session)  # the inbox row the processor is running, if any
        data["session"] = session
        token = HANDLER_SESSION.set(session)
        try:
            result = await handler(event, data)
            await commit_handler_work(session)  # a read-only handler: marks the update done
            settled = UPDATE_SETTLED.get()
            if session.info.get(_COMMITTED) and settled is not None:
                settled.append(True)
            return result
        finally:
            HANDLER_SESSION.reset(token)

class CommitBeforeSend(BaseRequestMiddleware):
    """Inside a handler, commit its transaction before any call that sends or changes messages.

    Replies therefore leave only after what they announce is stored, and a reply that waits
    (a 429's retry_after, a slow network) never holds the database transaction or, on SQLite,
    the write lock. Read-only calls (get*) and calls outside a handler pass straight through.
    """

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        """Commit the handler's open transaction, then send."""
        session = HANDLER_SESSION.get()
        if session is not None and not type(method).__name__.startswith("Get"):
            reply = None  # a reply before any mark needs no record (the update reruns)
            if UPDATE_ID_KEY in session.info and (session.in_transaction() or marked(session)):
                reply = reply_record(bot, method)
            await commit_handler_work(session, reply)
        return await make_request(bot, method)
