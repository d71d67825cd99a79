"""End-to-end fixtures: the emulator and the bot running against it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.telegram.app import BotApp
from emulator import Emulator
from tests.e2e.harness import Clock, start_bot


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A fresh Bot API emulator on a free loopback port."""
    emulator = Emulator(bot_username="census_test_bot")
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def clock() -> Clock:
    """The bot's clock for this test."""
    return Clock()


@pytest.fixture
async def app(emu: Emulator, sqlite_url: str, clock: Clock) -> AsyncIterator[BotApp]:
    """The bot, running by long polling against the emulator, on a fresh SQLite database."""
    running = await start_bot(emu, sqlite_url, clock=clock)
    yield running
    await running.stop()
