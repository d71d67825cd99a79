"""Reads and finishes batched over many updates keep one statement text whatever the batch
size: on PostgreSQL each connection then prepares each of them once, where an expanding IN made
a new text, and a new server-side prepare, for every batch length."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.models.inbox import INBOX_DONE, INBOX_PENDING, INBOX_REPLYING, InboxUpdate
from bot.db.models.staff import Staff
from bot.db.repo import staff as staff_repo
from bot.db.repo import users as users_repo
from bot.services.access import users as users_service
from bot.telegram.finisher import Finisher
from tests.conftest import at
from tests.db.test_staff_reads import _seed

NOW = at("2018-10-08 09:00")


def _texts(engine: AsyncEngine, needle: str) -> list[str]:
    """Every statement text the engine runs that mentions `needle`, as it runs them."""
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if needle in statement:
            seen.append(statement)

    return seen


async def test_user_and_staff_reads_of_any_batch_size(
        engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Batches of one, two and three users, and of staff IDs, each get their own rows back;
    on PostgreSQL the three batches ran one statement text."""
    await _seed(sessionmaker)
    async with sessionmaker() as s:
        for uid in (11, 12, 13):
            await users_service.grant_role(s, now=NOW, user_id=uid, role="liaison",
                                           unit_code="410102")
        await s.commit()  # the test is the unit-of-work owner
    users = _texts(engine, "FROM chat_users")
    staff = _texts(engine, "FROM staff")
    async with sessionmaker() as s:
        for batch in ([11], [11, 99], [12, 13, 99]):
            found = await users_repo.users_with_grants(s, batch)
            assert sorted(found) == sorted(batch)
            for uid in batch:
                assert [g[:2] for g in found[uid][1]] == (
                    [] if uid == 99 else [("liaison", "410102")])
        for ids in (["ZZ-410102-0001"], ["ZZ-410102-0002", "ZZ-9"],
                    ["ZZ-410100-0001", "ZZ-410102-0003", "ZZ-410102-0004"]):
            chains = await staff_repo.with_chains(s, ids)
            assert sorted(chains) == sorted(i for i in ids if i != "ZZ-9")
            assert all(chain[-1].code == record.unit_code for record, chain in chains.values())
    assert len(users) == 3 and len(staff) == 3
    if engine.dialect.name == "postgresql":
        assert len(set(users)) == 1 and len(set(staff)) == 1


async def test_inbox_finishes_of_any_batch_size(
        engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Done-marks and settles of one row and of several finish exactly their rows (a mark
    only a pending one, a settle only a reply in flight); on PostgreSQL one text each."""
    async with sessionmaker() as s:
        rows = [InboxUpdate(update_id=n, chat_id=100 + n, payload={"update_id": n},
                            received_at=NOW, state=INBOX_REPLYING if n > 4 else INBOX_PENDING,
                            reply={"method": "SendMessage", "params": {}} if n > 4 else None)
                for n in range(1, 9)]
        s.add_all(rows)
        await s.commit()  # the test is the unit-of-work owner
        ids = [r.id for r in rows]
    finishes = _texts(engine, "UPDATE inbox_updates")
    finisher = Finisher(sessionmaker, clock=lambda: NOW)
    await finisher.mark_done(ids[0])
    await finisher._run_batch("mark", [*ids[1:3], ids[5]])  # ids[5] is in flight: left alone
    await finisher.settle(ids[4])
    await finisher._run_batch("settle", [*ids[5:8], ids[3]])  # ids[3] is pending: left alone
    async with sessionmaker() as s:
        got = {r.id: (r.state, r.reply, r.processed_at)
               for r in (await s.scalars(select(InboxUpdate))).all()}
    assert [got[i][0] for i in ids] == [INBOX_DONE] * 3 + [INBOX_PENDING] + [INBOX_DONE] * 4
    assert all(got[i][2] == NOW for i in ids[:3])
    assert all(got[i][1] is None for i in ids[4:])
    assert len(finishes) == 4
    if engine.dialect.name == "postgresql":
        assert len(set(finishes)) == 2  # one for the marks, one for the settles


async def test_an_over_long_id_in_a_batch_matches_nothing(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """An ID longer than the column, batched with a real one, is not cut down to the column's
    length (which would make it match the record it starts with): only the real one is
    found."""
    await _seed(sessionmaker)
    real = "ZZ-410102-0001"
    async with sessionmaker() as s:
        await s.execute(Staff.__table__.update().where(Staff.staff_id == real)
                        .values(staff_id=real + "X" * (64 - len(real))))
        await s.commit()  # the test is the unit-of-work owner
        long_real = real + "X" * (64 - len(real))
        chains = await staff_repo.with_chains(s, [long_real + "Y", "ZZ-410102-0002"])
    assert sorted(chains) == ["ZZ-410102-0002"]
