"""Who sent an update: the chat user and their grants, read for many updates at once.

Every update from a person starts with this read. Updates whose reads are asked for at the same
moment share one statement (bot.util.coalesce), run outside any update's transaction (no write
lock on SQLite, autocommit on PostgreSQL): under load, one round trip serves every worker
starting an update. First-seen people among them are created together, by one INSERT ... ON
CONFLICT DO NOTHING (committed before any of their updates is handled). The users come back
detached; an update that has to write to its user's record merges it into its own session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import begin_read_phase, read_phase_autocommits
from bot.db.models.users import ChatUser
from bot.db.repo import users as users_repo
from bot.services.access import users as users_service
from bot.services.access.users import Seen
from bot.util.coalesce import Coalescer

Read = tuple[ChatUser, users_repo.Grants]


class UserReads:
    """Reads (user, grants) by Telegram id, creating first-seen users; asks at the same moment
    share one statement (and one insert for the first-seen among them)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._batches: Coalescer[tuple[Seen, datetime], Read] = Coalescer(
            ("read",), self._run, name="user-reads")

    async def read(self, seen: Seen, now: datetime) -> Read:
        """The chat user `seen` is (detached; created, committed, if first seen) and their
        grants."""
        return await self._batches.ask("read", (seen, now))

    async def _run(self, _kind: str, asks: list[tuple[Seen, datetime]]) -> list[Read]:
        now = max(at for _, at in asks)
        async with self._sessionmaker() as session:
            await begin_read_phase(session)  # no transaction, no write lock
            found = await users_repo.users_with_grants(session, [s.user_id for s, _ in asks])
            first = {s.user_id: s for s, _ in asks if found[s.user_id][0] is None}
            in_read = read_phase_autocommits(session)  # PostgreSQL: a write commits by itself
            made: dict[int, ChatUser] = {}
            if first and in_read:  # one statement, committed by itself
                made = await users_service.ensure_many(
                    session, now=now, people=list(first.values()))
            await session.commit()
        if first and not in_read:  # SQLite: a write transaction of its own
            async with self._sessionmaker() as session:
                made = await users_service.ensure_many(session, now=now,
                                                       people=list(first.values()))
                await session.commit()
        # a user asked for twice gets the one (detached, never modified) object twice, with
        # a list of grants each
        out: list[Read] = []
        for seen, _ in asks:
            user, grants = found[seen.user_id]
            out.append((user or made[seen.user_id], list(grants)))
        return out
