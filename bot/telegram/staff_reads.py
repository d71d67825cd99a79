"""The staff records public lookups name, read for many lookups at once.

A /verify reads the record it names (with its unit chain) before the lookup's transaction:
lookups starting at the same moment share one statement (bot.util.coalesce), run outside any
transaction (no write lock on SQLite, autocommit on PostgreSQL). Under READ COMMITTED the
lookup's own read would see the same committed roster: its transaction starts just after. The
records come back detached and are never modified.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import begin_read_phase
from bot.services.verification import lookups
from bot.util.coalesce import Coalescer


class StaffReads:
    """Reads the records lookups of typed IDs would find; asks at the same moment share one
    statement."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._batches: Coalescer[str, lookups.StaffFound] = Coalescer(
            ("read",), self._run, name="staff-reads")

    async def read(self, query: str) -> lookups.StaffFound:
        """What `lookups.lookup` of the normalised `query` would find (pass it as `found`)."""
        return await self._batches.ask("read", query)

    async def _run(self, _kind: str, queries: list[str]) -> list[lookups.StaffFound]:
        async with self._sessionmaker() as session:
            await begin_read_phase(session)  # no transaction, no write lock
            found = await lookups.read_staff(session, queries)
            await session.commit()
        return [{sid: found[sid] for sid in lookups.lookup_ids(q) if sid in found}
                for q in queries]
