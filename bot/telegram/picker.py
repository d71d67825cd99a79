"""The inbox pick: each claimed chat's lowest unfinished update, many chats in one statement.

Every update costs one pick (its start counted, its payload read) before it runs. Workers that
ask at the same moment share one statement (bot.util.coalesce): under load, one round trip picks
the next update of every chat that is waiting for one. A pick only ever touches chats whose
claim its asker holds, so rows picked together are never another worker's. Updates without a
chat (rare) keep a statement of their own.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import and_, exists, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import execute_alone
from bot.db.fixed_sets import in_batch, one_of
from bot.db.models.inbox import INBOX_PENDING, INBOX_REPLYING, INBOX_TABLE
from bot.util.coalesce import Coalescer

UNFINISHED = (INBOX_PENDING, INBOX_REPLYING)  # states that still need the processor
# What a pick returns: row id, update id, payload, attempts so far (this one counted), whether
# the chat has another unfinished update, and the reply a cut-off run left in flight (or None).
Picked = tuple[int, int, dict[str, Any], int, bool, dict[str, Any] | None]


@lru_cache(maxsize=2)
def _pick_many(dialect: str) -> Any:
    """The pick of the chats in the batch parameter "chats", built once per dialect."""
    t, other = INBOX_TABLE, INBOX_TABLE.alias("earlier")
    lowest = (
        select(t.c.id)
        .where(one_of(t.c.state, UNFINISHED), in_batch(t.c.chat_id, "chats", dialect),
               ~exists().where(
                   other.c.chat_id == t.c.chat_id, one_of(other.c.state, UNFINISHED),
                   or_(other.c.update_id < t.c.update_id,
                       and_(other.c.update_id == t.c.update_id, other.c.id < t.c.id))))
    )
    return _counting(t.c.id.in_(lowest), chatless=False)


@lru_cache(maxsize=1)
def _pick_chatless() -> Any:
    """The pick of the lowest unfinished update without a chat, built once."""
    t = INBOX_TABLE
    pending = (one_of(t.c.state, UNFINISHED), t.c.chat_id.is_(None))
    lowest = (select(t.c.id).where(*pending)
              .order_by(t.c.update_id, t.c.id).limit(1).scalar_subquery())
    return _counting(t.c.id == lowest, chatless=True)


def _counting(which: Any, *, chatless: bool) -> Any:
    """Count the start of the rows `which` selects; return them with their chat's count of
    unfinished updates (the picked row counts itself: the pick leaves the state alone)."""
    t = INBOX_TABLE
    # Written out: in RETURNING, SQLAlchemy renders SQLite's column names unqualified, the
    # subquery's too, which would make "chat_id = chat_id" of its correlation.
    states = ", ".join(f"'{state}'" for state in UNFINISHED)  # constants of this module
    same_chat = ("peer.chat_id IS NULL" if chatless
                 else f"peer.chat_id = {t.name}.chat_id")
    pending_count: Any = literal_column(
        f"(SELECT count(*) FROM {t.name} AS peer WHERE peer.state IN ({states}) AND {same_chat})")
    return (update(t).where(which)
            .values(attempts=t.c.attempts + 1)
            .returning(t.c.id, t.c.update_id, t.c.payload, t.c.attempts, pending_count,
                       t.c.state, t.c.reply, t.c.chat_id))


def _picked(row: Any) -> Picked:
    reply = dict(row[6] or {"method": None}) if row[5] == INBOX_REPLYING else None
    return int(row[0]), int(row[1]), dict(row[2]), int(row[3]), int(row[4]) > 1, reply


class Picker:
    """Picks claimed chats' next updates; asks at the same moment share one statement."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._dialect = sessionmaker.kw["bind"].dialect.name
        self._batches: Coalescer[int | None, Picked | None] = Coalescer(
            ("chats", "chatless"), self._run, name="inbox-picks")

    async def next(self, chat: int | None) -> Picked | None:
        """The chat's (None: the chatless updates') lowest unfinished update, its start
        counted; None when it has none. The caller holds the chat's claim."""
        return await self._batches.ask("chats" if chat is not None else "chatless", chat)

    async def _run(self, kind: str, chats: list[int | None]) -> list[Picked | None]:
        if kind == "chatless":  # one asker at a time per chat, so at most one here
            rows, _ = await execute_alone(self._sessionmaker, _pick_chatless())
            found = _picked(rows[0]) if rows else None
            return [found for _ in chats]
        rows, _ = await execute_alone(self._sessionmaker, _pick_many(self._dialect),
                                      {"chats": sorted({int(c) for c in chats if c is not None})})
        by_chat = {int(row[7]): _picked(row) for row in rows}
        return [by_chat.get(chat) if chat is not None else None for chat in chats]
