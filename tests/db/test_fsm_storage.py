"""Conversation state: the database storage (default) and Redis (REDIS_URL) agree."""

from __future__ import annotations

import os
import uuid

from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.fsm_storage import SqlStorage
from bot.telegram.app import build_dispatcher
from bot.telegram.state_guard import GuardedStorage

REDIS_URL = os.environ.get("CENSUSBOT_TEST_REDIS", "redis://127.0.0.1:6379/0")


class Form(StatesGroup):
    """A two-step form."""

    first = State()
    second = State()


async def _contract(storage: SqlStorage | RedisStorage) -> None:
    key = StorageKey(bot_id=1, chat_id=uuid.uuid4().int % 10**9, user_id=7)
    assert await storage.get_state(key) is None and await storage.get_data(key) == {}
    await storage.set_state(key, Form.first)
    await storage.set_data(key, {"unit": "410105", "values": {"industrial": 120}})
    assert await storage.get_state(key) == "Form:first"
    assert (await storage.get_data(key))["values"] == {"industrial": 120}
    await storage.set_state(key, None)
    assert await storage.get_state(key) is None
    assert (await storage.get_data(key))["unit"] == "410105"  # data outlives the state


async def test_database_storage_survives_a_new_storage_object(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await _contract(SqlStorage(sessionmaker))
    key = StorageKey(bot_id=1, chat_id=5, user_id=5)
    await SqlStorage(sessionmaker).set_state(key, Form.second)
    assert await SqlStorage(sessionmaker).get_state(key) == "Form:second"  # as after a restart


async def test_redis_storage_when_redis_url_is_set(sqlite_url: str) -> None:
    dp = build_dispatcher(Settings(REDIS_URL=REDIS_URL, DATABASE_URL=sqlite_url,
                                   BOT_TOKEN="1:x"))
    # Redis behind the outage guard (retries, then a clear reply): the state lives in Redis
    assert isinstance(dp.storage, GuardedStorage) and isinstance(dp.storage.inner, RedisStorage)
    try:
        await _contract(dp.storage)
    finally:
        await dp.storage.close()
        await dp["engine"].dispose()
