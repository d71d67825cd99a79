"""Run the real bot (real aiogram HTTP session) against this emulator: tests and benches."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.config import Settings
from bot.telegram.app import BotApp, build_dispatcher
from bot.telegram.factory import create_bot
from emulator.core import Emulator


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


async def crash(app: Any) -> None:
    """End `app` as a crash would: cancel its update tasks with no shutdown work, and drop its
    connections (a dead process holds none)."""
    for task in list(app.processor._tasks):
        task.cancel()
    app._stop.set()
    await asyncio.gather(*list(app.processor._tasks), return_exceptions=True)
    await app.bot.session.close()
    for component in app.dp["components"]:  # the outbox sender has its own connections
        await component.stop()
    await app.dp["engine"].dispose()
