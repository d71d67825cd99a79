"""aiogram FSM storage in the database, so a half-finished conversation survives a restart."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.fsm import FsmRecord


def _key(key: StorageKey) -> str:
    return ":".join(
        str(p) for p in (key.bot_id, key.chat_id, key.user_id, key.thread_id or "",
                         key.business_connection_id or "", key.destiny)
    )


class SqlStorage(BaseStorage):
    """FSM state and data in the `fsm_state` table; each call is its own short transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def _upsert(self, key: StorageKey, **values: Any) -> None:
        async with self._sessionmaker() as session:
            record = await session.get(FsmRecord, _key(key))
            if record is None:
                record = FsmRecord(key=_key(key), state=None, data={})
                session.add(record)
            for name, value in values.items():
                setattr(record, name, value)
            record.updated_at = datetime.now(UTC)
            await session.commit()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        """Store the conversation state (None clears it)."""
        value = state.state if isinstance(state, State) else state
        await self._upsert(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        """The stored conversation state."""
        async with self._sessionmaker() as session:
            record = await session.get(FsmRecord, _key(key))
            return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        """Store the conversation data (must be JSON-serialisable)."""
        await self._upsert(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        """The stored conversation data."""
        async with self._sessionmaker() as session:
            record = await session.get(FsmRecord, _key(key))
            return dict(record.data) if record else {}

    async def close(self) -> None:
        """Nothing to release: sessions are per call."""
