"""aiogram FSM storage in the database, so a half-finished conversation survives a restart.

While a handler runs, the storage works inside the handler's own session (set by the context
middleware): a state change then commits together with what the handler did so far, and marks
the update processed with it. This keeps conversation state and business data consistent, and
on SQLite (one writer at a time) it avoids a second connection waiting for the handler's lock.

Reads are served from a bounded write-through cache (aiogram reads the state of every update);
the database stays the truth after a restart. Run one bot process per database, or set
REDIS_URL so that several processes share Redis instead.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.fsm import FsmRecord

HANDLER_SESSION: ContextVar[AsyncSession | None] = ContextVar("handler_session", default=None)


def _key(key: StorageKey) -> str:
    return ":".join(
        str(p) for p in (key.bot_id, key.chat_id, key.user_id, key.thread_id or "",
                         key.business_connection_id or "", key.destiny)
    )


class SqlStorage(BaseStorage):
    """FSM state and data in the `fsm_state` table; each call is its own short transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 cache_size: int = 10_000) -> None:
        self._sessionmaker = sessionmaker
        self._cache: OrderedDict[str, tuple[str | None, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size

    def _remember(self, key: str, state: str | None, data: dict[str, Any]) -> None:
        self._cache[key] = (state, copy.deepcopy(data))
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _load(self, key: StorageKey) -> tuple[str | None, dict[str, Any]]:
        name = _key(key)
        hit = self._cache.get(name)
        if hit is None:
            async with self._session() as session:
                record = await session.get(FsmRecord, name)
                hit = (record.state, dict(record.data)) if record else (None, {})
            self._remember(name, *hit)
        return hit[0], copy.deepcopy(hit[1])

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        current = HANDLER_SESSION.get()
        if current is not None:
            yield current
            return
        async with self._sessionmaker() as session:
            yield session

    async def _upsert(self, key: StorageKey, **values: Any) -> None:
        hit = self._cache.get(_key(key))
        if hit is not None and all(
            (hit[0] if name == "state" else hit[1]) == value for name, value in values.items()
        ):
            return  # already stored (the cache is write-through): no transaction for a no-op
        async with self._session() as session:
            record = await session.get(FsmRecord, _key(key))
            if record is None:
                record = FsmRecord(key=_key(key), state=None, data={})
                session.add(record)
            for name, value in values.items():
                setattr(record, name, value)
            record.updated_at = datetime.now(UTC)
            state, data = record.state, dict(record.data)
            await session.commit()
        self._remember(_key(key), state, data)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Store the conversation state (None clears it)."""
        value = state.state if isinstance(state, State) else state
        await self._upsert(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        """The stored conversation state."""
        return (await self._load(key))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Store the conversation data (must be JSON-serialisable)."""
        await self._upsert(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """The stored conversation data."""
        return (await self._load(key))[1]

    async def close(self) -> None:
        """Nothing to release: sessions are per call."""
