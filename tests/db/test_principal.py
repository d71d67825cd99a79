"""The principal (user and grants) loads in one query, and grants change with the database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repo import users as users_repo
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
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
