"""Run the real bot (real aiogram HTTP session) against the project's Bot API emulator."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.models.outbox import (
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENDING,
    OUTBOX_SENT,
    OutboxMessage,
)
from bot.emulator import Emulator
from bot.telegram.app import BotApp, build_dispatcher
from bot.telegram.factory import create_bot


@dataclass
class Clock:
    """A settable clock for tests: `now` is passed everywhere, nobody sleeps."""

    value: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        """The current test time."""
        return self.value

    def set(self, value: datetime) -> None:
        """Move the clock."""
        self.value = value


def settings_for(emu: Emulator, database_url: str, **overrides: Any) -> Settings:
    """Settings that point the bot at the emulator and the test database."""
    values: dict[str, Any] = {
        "BOT_TOKEN": emu.token,
        "TELEGRAM_API_BASE": emu.base_url,
        "DATABASE_URL": database_url,
        "CENSUSBOT_SECRET": "test-secret-do-not-use-0123456789abcdef",
        "CENSUSBOT_POLLING_TIMEOUT": 1,
        "CENSUSBOT_SCHEDULER": False,
        # No quiet hours (start == end), whatever the test clock says: a notice goes out at once.
        "CENSUSBOT_QUIET_START": "00:00",
        "CENSUSBOT_QUIET_END": "00:00",
        # One message per chat per second is Telegram's limit, not the emulator's: a test whose
        # chat gets a chart, a document and a text should not wait seconds for them.
        "CENSUSBOT_OUTBOX_CHAT_INTERVAL": 0.02,
        "CENSUSBOT_OUTBOX_RATE": 200.0,
    }
    values.update(overrides)
    return Settings(**values)


async def start_bot(
    emu: Emulator,
    database_url: str,
    *,
    clock: Callable[[], datetime] | None = None,
    components: bool = True,
    **overrides: Any,
) -> BotApp:
    """Start the whole bot (start-up hooks, recovery, polling) against the emulator."""
    settings = settings_for(emu, database_url, **overrides)
    bot = create_bot(settings)
    dp = build_dispatcher(settings, clock=clock or Clock(), components=components)
    app = BotApp(settings, bot, dp)
    try:
        await app.start()
    except BaseException:
        await bot.session.close()
        raise
    return app


_RETURNED: weakref.WeakKeyDictionary[BotApp, set[int]] = weakref.WeakKeyDictionary()


async def wait_delivered(app: BotApp, *, timeout: float = 20.0,  # noqa: ASYNC109
                         allow_failed: bool = False) -> list[OutboxMessage]:
    """Wait until the bot's own outbox sender has settled every due row; return the rows it
    sent since the last call for this app (id order).

    "Settled": no row is `sending` and none is `pending` with `not_before` at or before the
    bot's clock (rows deferred to later stay queued and are not waited for). A row that failed
    raises AssertionError unless `allow_failed`.
    """
    maker: async_sessionmaker[AsyncSession] = app.dp["sessionmaker"]
    clock: Callable[[], datetime] = app.dp["clock"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with maker() as session:
            waiting = await session.scalar(select(func.count(OutboxMessage.id)).where(
                (OutboxMessage.state == OUTBOX_SENDING)
                | ((OutboxMessage.state == OUTBOX_PENDING)
                   & (OutboxMessage.not_before <= clock()))))
            await session.commit()
        if not waiting:
            break
        if loop.time() > deadline:
            raise AssertionError(f"the outbox sender left {waiting} due row(s) after {timeout}s"
                                 " (is it running? see app.dp['components'])")
        await asyncio.sleep(0.05)
    returned = _RETURNED.setdefault(app, set())
    async with maker() as session:
        rows = [r for r in (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.state.in_((OUTBOX_SENT, OUTBOX_FAILED))).order_by(OutboxMessage.id)
        )).all() if r.id not in returned]
        await session.commit()
    returned.update(r.id for r in rows)
    failed = [(r.id, r.chat_id, r.method, r.error_code, r.last_error) for r in rows
              if r.state == OUTBOX_FAILED]
    if failed and not allow_failed:
        raise AssertionError(f"outbox rows failed: {failed}")
    return [r for r in rows if r.state == OUTBOX_SENT]
