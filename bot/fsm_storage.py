"""aiogram FSM storage in the database, so a half-finished conversation survives a restart.

While a handler runs, the storage works inside the handler's own session (set by the context
middleware): a state change joins the update's one transaction, is written when the middleware
commits it, together with everything else the update did (marking it processed), in one
upsert per conversation whatever the number of changes, and is rolled back with it. This
keeps conversation state and business data consistent, and on SQLite (one writer at a time) it
avoids a second connection waiting for the handler's lock. The cache learns a state written
inside a handler only when that transaction commits.

Reads are served from a bounded write-through cache (aiogram reads the state of every update);
the database stays the truth after a restart. Reads that miss the cache outside a handler (the
FSM middleware's, before the update's session exists) share one statement with every other
miss at that moment. Run one bot process per database, or set REDIS_URL so that several
processes share Redis instead.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from bot.db.engine import begin_read_phase
from bot.db.fixed_sets import in_batch
from bot.db.models.fsm import FsmRecord
from bot.db.read_phase import note_write
from bot.util.coalesce import Coalescer

HANDLER_SESSION: ContextVar[AsyncSession | None] = ContextVar("handler_session", default=None)
# FSM writes of a handler's transaction, written when it commits: key -> (storage, state, data)
_PENDING = "censusbot.fsm_pending"
Pending = dict[str, tuple["SqlStorage", str | None, dict[str, Any]]]


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    """The handler's state changes, each key's last, in one upsert with the commit."""
    pending: Pending = session.info.get(_PENDING) or {}
    if not pending or session.in_nested_transaction():  # a SAVEPOINT: not committed yet
        return
    now = datetime.now(UTC)
    rows = [{"key": name, "state": state, "data": data, "updated_at": now}
            for name, (_, state, data) in pending.items()]
    stmt = _upsert_stmt(session.get_bind().dialect.name)
    session.execute(stmt, rows[0] if len(rows) == 1 else rows)


@lru_cache(maxsize=2)
def _upsert_stmt(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (key) DO UPDATE of a whole record, built once per dialect."""
    table: Any = FsmRecord.__table__
    ins: Any = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return ins.on_conflict_do_update(index_elements=["key"], set_={
        c: ins.excluded[c] for c in ("state", "data", "updated_at")})


@lru_cache(maxsize=2)
def _read_stmt(dialect: str) -> Any:
    """The states and data of the keys in the batch parameter "keys", built once per
    dialect."""
    return (select(FsmRecord.key, FsmRecord.state, FsmRecord.data)
            .where(in_batch(FsmRecord.key, "keys", dialect)))


@event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the cache waits for COMMIT
        return
    pending: Pending = session.info.pop(_PENDING, None) or {}
    for name, (storage, state, data) in pending.items():
        storage._remember(name, state, data)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (rolled back, closed)
        session.info.pop(_PENDING, None)


def _key(key: StorageKey) -> str:
    return ":".join(
        str(p) for p in (key.bot_id, key.chat_id, key.user_id, key.thread_id or "",
                         key.business_connection_id or "", key.destiny)
    )


class SqlStorage(BaseStorage):
    """FSM state and data in the `fsm_state` table; in a handler, in the update's transaction."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 cache_size: int = 10_000) -> None:
        self._sessionmaker = sessionmaker
        self._cache: OrderedDict[str, tuple[str | None, dict[str, Any]]] = OrderedDict()
        self._cache_size = cache_size
        self._reads: Coalescer[str, tuple[str | None, dict[str, Any]]] = Coalescer(
            ("read",), self._read_many, name="fsm-reads")

    def _remember(self, key: str, state: str | None, data: dict[str, Any]) -> None:
        self._cache[key] = (state, copy.deepcopy(data))
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _load(self, key: StorageKey) -> tuple[str | None, dict[str, Any]]:
        name = _key(key)
        current = HANDLER_SESSION.get()
        pending: Pending = (current.info.get(_PENDING) or {}) if current is not None else {}
        if name in pending:  # written by this update, not yet committed: not for the cache
            return pending[name][1], copy.deepcopy(pending[name][2])
        hit = self._cache.get(name)
        if hit is None:
            if current is not None:
                record = await current.get(FsmRecord, name)
                hit = (record.state, dict(record.data)) if record else (None, {})
            else:
                hit = await self._reads.ask("read", name)
            self._remember(name, *hit)
        return hit[0], copy.deepcopy(hit[1])

    async def _read_many(self, _kind: str, names: list[str]
                         ) -> list[tuple[str | None, dict[str, Any]]]:
        """(state, data) of each key, in one statement outside any handler's transaction."""
        async with self._sessionmaker() as session:
            await begin_read_phase(session)  # a read: no transaction, no write lock
            found = {key: (state, dict(data)) for key, state, data in (await session.execute(
                _read_stmt(session.get_bind().dialect.name), {"keys": sorted(set(names))})).all()}
            await session.commit()
        return [found.get(name, (None, {})) for name in names]

    async def _upsert(self, key: StorageKey, **values: Any) -> None:
        name = _key(key)
        current = HANDLER_SESSION.get()
        pending: Pending = (current.info.get(_PENDING) or {}) if current is not None else {}
        hit = pending[name][1:] if name in pending else self._cache.get(name)
        if hit is not None and all(
            (hit[0] if field == "state" else hit[1]) == value for field, value in values.items()
        ):
            return  # already stored (the cache is write-through): no transaction for a no-op
        if current is not None:  # inside a handler: written when the update's transaction
            state, data = await self._load(key)  # commits, in one statement (_write_pending)
            state = values.get("state", state)
            if "data" in values:  # the stored data is already a copy (_load)
                data = copy.deepcopy(dict(values["data"]))
            await current.connection()  # the update's transaction is open, so it commits
            note_write(current)  # and is not ended early as if it had only read
            current.info.setdefault(_PENDING, {})[name] = (self, state, data)
            self._cache.pop(name, None)  # until that transaction commits
            return
        async with self._sessionmaker() as session:  # outside a handler: its own transaction
            record = await self._write(session, name, values)
            state, data = record.state, dict(record.data)
            await session.commit()
        self._remember(name, state, data)

    @staticmethod
    async def _write(session: AsyncSession, name: str, values: dict[str, Any]) -> FsmRecord:
        record = await session.get(FsmRecord, name)
        if record is None:
            record = FsmRecord(key=name, state=None, data={})
            session.add(record)
        for field, value in values.items():
            setattr(record, field, value)
        record.updated_at = datetime.now(UTC)
        await session.flush()
        return record

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
