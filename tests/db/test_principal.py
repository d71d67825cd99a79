"""The principal (user and grants) loads in one query, and grants change with the database."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.models.users import ChatUser
from bot.db.repo import users as users_repo
from bot.services.access import users as users_service
from bot.services.access.users import Seen
from bot.services.roster import org as org_service
from bot.telegram.user_reads import UserReads
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-08 09:00")


async def test_user_with_grants(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Grants are found before the user ever wrote; the row appears after the first touch."""
    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        assert await users_repo.user_with_grants(s, 77) == (None, [])
        await users_service.grant_role(s, now=NOW, user_id=77, role="office_head",
                                       unit_code="410102")
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        await users_service.grant_role(s, now=NOW, user_id=77, role="leader", unit_code="410100")
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        row, grants = await users_repo.user_with_grants(s, 77)
        assert row is None  # granted by the office before their first message
        assert [(r, c) for r, c, _ in grants] == [("leader", "410100"),
                                                  ("office_head", "410102")]
        assert grants == list(await users_repo.grants_with_paths(s, 77))
        users_service.refresh(s, row, now=NOW, user_id=77, first_name="Ann", username=None,
                              telegram_language="en")
        await s.commit()
    async with sessionmaker() as s:
        row, grants = await users_repo.user_with_grants(s, 77)
        assert row is not None and row.first_name == "Ann"
        assert len(grants) == 2
        await users_service.revoke_role(s, now=NOW, user_id=77, role="leader",
                                        unit_code="410100")
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:  # no cache to go stale: the next update sees the revoke
        row, grants = await users_repo.user_with_grants(s, 77)
        assert row is not None and [(r, c) for r, c, _ in grants] == [("office_head", "410102")]
        assert await users_repo.user_with_grants(s, 78) == (None, [])
        await s.commit()  # the test is the unit-of-work owner


async def test_senders_read_at_once_share_one_read_and_one_insert(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Twenty people writing at the same moment, five known (one with two grants, one granted
    before ever writing): one read for all, one insert for the first-seen, each their own record
    and grants; a person in two updates at once is read once and created once."""
    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        for uid in range(100, 104):
            users_service.refresh(s, None, now=NOW, user_id=uid, first_name=f"known{uid}",
                                  username=None, telegram_language="zh-hans")
        await s.flush()
        await users_service.grant_role(s, now=NOW, user_id=100, role="office_head",
                                       unit_code="410102")
        await users_service.grant_role(s, now=NOW, user_id=100, role="leader",
                                       unit_code="410100")
        await users_service.grant_role(s, now=NOW, user_id=104, role="liaison",
                                       unit_code="410102")
        await s.commit()  # the test is the unit-of-work owner
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "chat_users" in statement:
            statements.append(statement.lstrip().split()[0].upper())

    reads = UserReads(sessionmaker)
    people = [Seen(uid, f"p{uid}", None, "zh-hans") for uid in range(100, 120)]
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        got = await asyncio.gather(*(reads.read(p, NOW) for p in [*people, people[-1]]))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert statements == ["SELECT", "INSERT"]
    assert [u.id for u, _ in got] == [*range(100, 120), 119]
    assert [u.first_name for u, _ in got[:5]] == ["known100", "known101", "known102",
                                                  "known103", "p104"]
    assert [(r, c) for r, c, _ in got[0][1]] == [("leader", "410100"), ("office_head", "410102")]
    assert [(r, c) for r, c, _ in got[4][1]] == [("liaison", "410102")]
    assert all(grants == [] for _, grants in got[5:])
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(ChatUser)) == 20
